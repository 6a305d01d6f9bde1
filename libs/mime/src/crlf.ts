// Line-ending normalisation: every bare LF becomes CRLF (RFC 5322 §2.3,
// RFC 9051 §2.3.1: a message is made of CRLF-terminated lines). A lone CR is
// left as it is, and nothing is appended to a last line without a newline,
// as the reference server (Dovecot's istream-crlf) serves them.
//
// Delivery runs every message through this before it hashes, stores and
// indexes it, so the stored blob is byte for byte what IMAP and POP3 serve:
// sizes, offsets and line counts of the MIME index stay true without any
// conversion at read time.

const LF = 0x0a;
const CR = 0x0d;
const CRLF = Buffer.from("\r\n");

/** Does `b` contain an LF not preceded by CR? (`prevCr`: the byte before b[0] was CR) */
export function hasBareLf(b: Uint8Array, prevCr = false): boolean {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let k = buf.indexOf(LF);
  while (k >= 0) {
    if (k === 0 ? !prevCr : buf[k - 1] !== CR) return true;
    k = buf.indexOf(LF, k + 1);
  }
  return false;
}

/**
 * Streaming LF → CRLF: feed chunks of any size, in order. A chunk without a
 * bare LF is returned as it is (no copy); the CR of a CRLF split across two
 * chunks is remembered.
 */
export class CrlfNormalizer {
  private prevCr = false;
  /** Bare LFs turned into CRLF so far. */
  added = 0;

  push(chunk: Uint8Array): Buffer {
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (buf.length === 0) return buf;
    const prevCr = this.prevCr;
    this.prevCr = buf[buf.length - 1] === CR;
    if (!hasBareLf(buf, prevCr)) return buf;
    const pieces: Buffer[] = [];
    let from = 0;
    let k = buf.indexOf(LF);
    while (k >= 0) {
      if (k === 0 ? !prevCr : buf[k - 1] !== CR) {
        pieces.push(buf.subarray(from, k), CRLF);
        this.added++;
        from = k + 1;
      }
      k = buf.indexOf(LF, k + 1);
    }
    pieces.push(buf.subarray(from));
    return Buffer.concat(pieces);
  }
}

/** The whole message with CRLF line endings (the input itself when it has no bare LF). */
export function toCrlf(message: Uint8Array): Buffer {
  return new CrlfNormalizer().push(message);
}
