/**
 * SMTP replies as errors for smtp-server's handler callbacks. The text starts
 * with the RFC 3463 enhanced status code; the connection (protocol-connection.ts)
 * sends it as it is instead of smtp-server's default code for the reply code.
 */
export class SmtpReply extends Error {
  readonly responseCode: number;

  constructor(
    code: number,
    readonly enhanced: string,
    text: string,
    /** Metric label: why (no user data). */
    readonly reason = "error",
  ) {
    super(`${enhanced} ${text}`);
    this.name = "SmtpReply";
    this.responseCode = code;
  }
}

/** A temporary local failure (RFC 5321 §4.2.2 451; RFC 3463 4.3.0): the sender retries. */
export function localError(text = "Temporary local problem, please try again later"): SmtpReply {
  return new SmtpReply(451, "4.3.0", text, "local_error");
}

/** RFC 3463 enhanced codes at the start of a reply text. */
export const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
