/**
 * The dedupe key of a delivery. A sender that lost our 250 (we crashed after
 * the commit) retries with the same body, envelope and Message-ID. The blob
 * differs between attempts (our Received header holds a time stamp and a
 * session id), so the key is built from the message as received instead.
 */
import { hash } from "node:crypto";

export interface DedupeInput {
  /** sha256 hex of the DATA payload before our headers. */
  payloadSha256: string;
  /** MAIL FROM, "" for the null reverse-path. */
  sender: string;
  /** Accepted recipients (any order). */
  recipients: readonly string[];
  /** The Message-ID header, if any. */
  messageId: string | null | undefined;
}

/** 24 h: longer than any sender's first retry after a lost 250, shorter than a resend by a person. */
export const DEFAULT_DEDUPE_WINDOW_SECONDS = 24 * 3600;

export function dedupeKey(d: DedupeInput): string {
  const recipients = [...new Set(d.recipients.map((r) => r.toLowerCase()))].sort();
  return hash(
    "sha256",
    JSON.stringify(["v1", d.payloadSha256, d.sender.toLowerCase(), recipients, d.messageId ?? ""]),
    "hex",
  );
}
