/**
 * The body of a RETR or TOP response, streamed: a message's stored bytes in,
 * the POP3 multi-line form out (RFC 1939 §3):
 *
 * - every line ends in CRLF: a bare LF gets its CR (mail stored by IMAP APPEND
 *   or by a lenient sender may have bare LFs; POP3 requires CRLF);
 * - a line beginning with "." gets one more "." (byte-stuffing);
 * - a message that doesn't end in a line ending gets a CRLF, then ".CRLF"
 *   ends the response.
 *
 * State carries across chunk boundaries (a "." or an LF whose CR is at the end
 * of the previous chunk). `messageOctets` counts what the client keeps after
 * un-stuffing: the octet count LIST and STAT report for this message.
 */
import { Transform, type TransformCallback } from "node:stream";

const CR = 13;
const LF = 10;
const DOT = 46;
const DOT_BUF = Buffer.from(".");
const CRLF_BUF = Buffer.from("\r\n");
const LF_BUF = Buffer.from("\n");
const TERMINATOR = Buffer.from(".\r\n");
const LF_DOT = Buffer.from("\n.");

export class DotStuffer {
  private atLineStart = true;
  private lastByte = -1;
  /** Octets of the message as the client reconstructs it (CRLF form, stuffing removed, final CRLF included). */
  messageOctets = 0;

  push(chunk: Uint8Array): Buffer {
    const parts: Buffer[] = [];
    this.pushInto(chunk, parts);
    if (parts.length === 0) return Buffer.alloc(0);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /**
   * Appends the stuffed form of `chunk` to `out` (for a corked socket's
   * writev, without concatenating). The chunk is cut only where bytes are
   * inserted (a CR before a bare LF, a "." before a line's leading "."), so a
   * CRLF message with few dot-lines passes through as a handful of slices.
   */
  pushInto(chunk: Uint8Array, out: Buffer[]): void {
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const length = buf.length;
    if (length === 0) return;
    let start = 0;
    if (this.atLineStart && buf[0] === DOT) out.push(DOT_BUF);
    let octets = length;
    let nl = buf.indexOf(LF);
    while (nl !== -1) {
      const before = nl > 0 ? buf[nl - 1] : this.lastByte;
      if (before !== CR) {
        if (nl > start) out.push(buf.subarray(start, nl));
        out.push(CRLF_BUF);
        octets++;
        start = nl + 1;
      }
      const next = nl + 1;
      if (next < length && buf[next] === DOT) {
        if (next > start) out.push(buf.subarray(start, next));
        out.push(DOT_BUF);
        start = next;
      }
      nl = buf.indexOf(LF, next);
    }
    if (start < length) out.push(start === 0 ? buf : buf.subarray(start));
    this.messageOctets += octets;
    this.lastByte = buf[length - 1]!;
    this.atLineStart = this.lastByte === LF;
  }

  /**
   * pushInto for a whole message known to be in CRLF form already (every LF
   * after a CR, a line ending at the end: its RETR size equals its stored
   * size): only lines starting with "." need anything, and one native search
   * for LF "." finds them, where pushInto looks at every line.
   */
  pushCrlfMessageInto(message: Buffer, out: Buffer[]): void {
    const length = message.length;
    if (length === 0) return;
    let start = 0;
    if (this.atLineStart && message[0] === DOT) out.push(DOT_BUF);
    let at = message.indexOf(LF_DOT);
    while (at !== -1) {
      out.push(message.subarray(start, at + 1), DOT_BUF);
      start = at + 1;
      at = message.indexOf(LF_DOT, start);
    }
    out.push(start === 0 ? message : message.subarray(start));
    this.messageOctets += length;
    this.lastByte = message[length - 1]!;
    this.atLineStart = this.lastByte === LF;
  }

  /** The rest of the response: a line ending if the message lacked one, then ".CRLF". */
  end(): Buffer {
    if (this.atLineStart) return TERMINATOR;
    this.atLineStart = true;
    if (this.lastByte === CR) {
      this.messageOctets += 1;
      return Buffer.concat([LF_BUF, TERMINATOR]);
    }
    this.messageOctets += 2;
    return Buffer.concat([CRLF_BUF, TERMINATOR]);
  }
}

/** DotStuffer as a stream Transform. */
export function createDotStuffTransform(): Transform {
  const stuffer = new DotStuffer();
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      cb(null, stuffer.push(chunk));
    },
    flush(cb: TransformCallback) {
      cb(null, stuffer.end());
    },
  });
}

/** The octets RETR's un-stuffed body has for these stored bytes (the LIST/STAT size). */
export async function pop3Octets(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<number> {
  const stuffer = new DotStuffer();
  for await (const c of chunks) stuffer.push(c);
  stuffer.end();
  return stuffer.messageOctets;
}
