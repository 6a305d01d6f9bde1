import { randomBytes } from "node:crypto";

/** A fresh random owner token per lease: only its holder can renew or release it. */
export function newOwnerToken(): string {
  return randomBytes(16).toString("base64url");
}
