/**
 * Session ids (logs, the APOP timestamp): a random per-process prefix and a
 * counter, unique without asking the CSPRNG on every connection. RFC 1939 §7
 * only needs the timestamp to differ each time; it is not a secret.
 */
import { randomBytes } from "node:crypto";

const SESSION_ID_PREFIX = randomBytes(4).toString("hex");
let sessionCounter = 0;

export function nextSessionId(): string {
  sessionCounter = (sessionCounter + 1) % Number.MAX_SAFE_INTEGER;
  return SESSION_ID_PREFIX + sessionCounter.toString(16);
}
