/**
 * POP3 status lines and multi-line responses.
 *
 * - Status lines are "+OK" or "-ERR", optionally followed by an RFC 2449 §8
 *   extended response code in brackets ([IN-USE], [LOGIN-DELAY]; RFC 3206 adds
 *   [SYS/TEMP], [SYS/PERM] and [AUTH]) and human-readable text.
 * - RFC 2449 §4: a response line is at most 512 octets including the CRLF, so
 *   text is cut to fit, and it never contains CR, LF or other control
 *   characters (which would let a value we echo split the response).
 * - Multi-line responses end with a line holding a single "." and lines that
 *   begin with "." are byte-stuffed (RFC 1939 §3).
 */

export type ResponseCode = "IN-USE" | "LOGIN-DELAY" | "SYS/TEMP" | "SYS/PERM" | "AUTH";

/** RFC 2449 §4: responses (status lines and each line of a multi-line response), CRLF included. */
export const MAX_RESPONSE_OCTETS = 512;

const CRLF = "\r\n";

/** Printable ASCII only: control characters and 8-bit text become "?". */
function clean(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?");
}

function statusLine(status: "+OK" | "-ERR", text: string, code?: ResponseCode): Buffer {
  let line: string = status;
  if (code) line += ` [${code}]`;
  if (text) line += ` ${clean(text)}`;
  const max = MAX_RESPONSE_OCTETS - CRLF.length;
  if (line.length > max) line = line.slice(0, max);
  return Buffer.from(line + CRLF, "latin1");
}

export function ok(text = ""): Buffer {
  return statusLine("+OK", text);
}

export function err(text: string, code?: ResponseCode): Buffer {
  return statusLine("-ERR", text, code);
}

/** A SASL server challenge (RFC 5034 §4): "+ " and base64 (possibly empty). */
export function continuation(base64: string): Buffer {
  return Buffer.from(`+ ${base64}${CRLF}`, "latin1");
}

/**
 * "+OK text", the given lines (byte-stuffed, each cut to the line limit), and
 * the terminating ".". For the small multi-line responses (CAPA, LIST, UIDL);
 * message bodies stream through DotStuffer instead.
 */
export function multiline(first: string, lines: readonly string[]): Buffer {
  const parts: string[] = [ok(first).toString("latin1")];
  const max = MAX_RESPONSE_OCTETS - CRLF.length;
  for (const l of lines) {
    let line = clean(l);
    if (line.startsWith(".")) line = `.${line}`;
    parts.push((line.length > max ? line.slice(0, max) : line) + CRLF);
  }
  parts.push(`.${CRLF}`);
  return Buffer.from(parts.join(""), "latin1");
}
