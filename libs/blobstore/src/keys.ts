import { createHash } from "node:crypto";
import { BLOB_KEY_RE } from "./types.ts";

/** The blob key for some content: lowercase hex SHA-256. */
export function sha256Hex(content: Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

/**
 * Rejects anything that is not a well-formed key. Keys become file paths and
 * object names, so a malformed one ("../x", a prefix) is a caller bug that must
 * fail loudly rather than read or delete something outside the store.
 */
export function assertBlobKey(key: string): void {
  if (!BLOB_KEY_RE.test(key)) throw new TypeError(`invalid blob key ${JSON.stringify(key)}`);
}
