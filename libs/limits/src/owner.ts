import { randomBytes } from "node:crypto";

/** Random per process: no two processes (replicas, restarts) share it. */
const PROCESS_TOKEN = randomBytes(16).toString("base64url");
let issued = 0;

/**
 * A fresh owner token per lease: only its holder can renew or release it.
 * Unique, not secret (no client ever sees it): the process's random token and
 * a counter, so a lock request costs no call into the CSPRNG.
 */
export function newOwnerToken(): string {
  issued++;
  return `${PROCESS_TOKEN}.${issued.toString(36)}`;
}
