// The one set of Content-Transfer-Encoding decoders (RFC 2045 §6): base64,
// quoted-printable, and RFC 2047's Q encoding for encoded words. FETCH
// BINARY, SEARCH, the preview and encoded words all decode through here.
//
// Streaming and buffer-based: a decoder takes chunks of any size and split
// points, keeps at most a few bytes (base64: 3; quoted-printable: the end of
// the current line, see below) between chunks, and writes straight into an
// output Buffer sized from the input (no per-octet arrays or intermediate
// strings). Lenient like real mail needs, and total: malformed input never
// throws, and output is bounded by the input (base64: 3/4 of it;
// quoted-printable: at most one extra octet per line break, LF → CRLF).

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const EQ = 0x3d;

/** A streaming decoder: push chunks in order, then end() once. */
export interface ByteDecoder {
  push(chunk: Uint8Array): Buffer;
  end(): Buffer;
}

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** base64 alphabet value per octet, 255 for everything else. */
const B64 = new Uint8Array(256).fill(255);
for (let i = 0; i < 64; i++) {
  B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}

/** hex digit value per octet (either case), 255 for everything else. */
const HEX = new Uint8Array(256).fill(255);
for (let i = 0; i < 16; i++) {
  HEX["0123456789ABCDEF".charCodeAt(i)] = i;
  HEX["0123456789abcdef".charCodeAt(i)] = i;
}

/**
 * Base64 (RFC 2045 §6.8), lenient: octets outside the alphabet (line
 * breaks, spaces, junk) are skipped. "=" ends the current quantum and
 * decoding goes on after it, so pieces that were encoded separately and then
 * concatenated (each with its padding) decode to the concatenation (Node's
 * decoder stops at the first "="). An incomplete quantum of 2 or 3
 * characters gives 1 or 2 octets, 1 character none (as Node's).
 */
export class Base64Decoder implements ByteDecoder {
  private acc = 0;
  private have = 0;

  push(chunk: Uint8Array): Buffer {
    const src = asBuffer(chunk);
    const out = Buffer.allocUnsafe(Math.floor(((this.have + src.length) * 3) / 4));
    let n = 0;
    let acc = this.acc;
    let have = this.have;
    for (let i = 0; i < src.length; i++) {
      const v = B64[src[i]!]!;
      if (v === 255) {
        if (src[i] === EQ && have > 1) {
          n = flushQuantum(acc, have, out, n);
          acc = 0;
          have = 0;
        }
        continue;
      }
      acc = (acc << 6) | v;
      if (++have === 4) {
        out[n++] = (acc >> 16) & 0xff;
        out[n++] = (acc >> 8) & 0xff;
        out[n++] = acc & 0xff;
        acc = 0;
        have = 0;
      }
    }
    this.acc = acc;
    this.have = have;
    return out.subarray(0, n);
  }

  end(): Buffer {
    const out = Buffer.allocUnsafe(2);
    const n = flushQuantum(this.acc, this.have, out, 0);
    this.acc = 0;
    this.have = 0;
    return out.subarray(0, n);
  }
}

/** Writes the octets of an incomplete quantum (`have` sextets in `acc`) at out[n]. */
function flushQuantum(acc: number, have: number, out: Buffer, n: number): number {
  if (have === 2) out[n++] = (acc >> 4) & 0xff;
  else if (have === 3) {
    out[n++] = (acc >> 10) & 0xff;
    out[n++] = (acc >> 2) & 0xff;
  }
  return n;
}

/**
 * Quoted-printable (RFC 2045 §6.7): trailing white space on a line is
 * transport padding and dropped; a line ending in "=" is a soft break; "=XX"
 * (hex, either case) is an octet; any other "=" is kept literally; hard line
 * breaks (CRLF or bare LF) come out as CRLF.
 *
 * Between chunks it keeps the unfinished line's tail that a later byte can
 * still change: trailing white space and a "=" in its last two octets. Text
 * before that is decoded as it arrives, so one endless line still streams.
 */
export class QuotedPrintableDecoder implements ByteDecoder {
  private carry: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): Buffer {
    const src = this.carry.length === 0 ? asBuffer(chunk) : Buffer.concat([this.carry, chunk]);
    const lastLf = src.lastIndexOf(LF);
    // the unfinished line: decode what no later byte can change
    let k = src.length;
    while (k > lastLf + 1 && (src[k - 1] === SP || src[k - 1] === TAB || src[k - 1] === CR)) k--;
    let keep = k;
    for (let j = Math.max(lastLf + 1, k - 2); j < k; j++) {
      if (src[j] === EQ) {
        keep = j;
        break;
      }
    }
    this.carry = Buffer.from(src.subarray(keep));
    // ≤ 1 output octet per input octet, plus one per LF (LF → CRLF)
    const out = Buffer.allocUnsafe(keep + (lastLf >= 0 ? countLf(src, lastLf + 1) : 0));
    const n = decodeQpLines(src, 0, keep, lastLf + 1, out, 0);
    return out.subarray(0, n);
  }

  end(): Buffer {
    const src = this.carry;
    this.carry = Buffer.alloc(0);
    const out = Buffer.allocUnsafe(src.length);
    // the last line has no line break to end it: decoded as a line, without one
    const n = decodeQpLines(src, 0, src.length, src.length, out, 0, true);
    return out.subarray(0, n);
  }
}

function countLf(b: Buffer, end: number): number {
  let n = 0;
  for (let k = b.indexOf(LF); k >= 0 && k < end; k = b.indexOf(LF, k + 1)) n++;
  return n;
}

/**
 * Decodes src[from, to) into out at n; lines ending before `linesEnd` are
 * complete (their breaks are in the range), the rest is the start of an
 * unfinished line. `lastLine`: src[from, to) ends with the input's last line,
 * which gets the end-of-line treatment without a line break. Returns the new n.
 */
function decodeQpLines(
  src: Buffer,
  from: number,
  to: number,
  linesEnd: number,
  out: Buffer,
  n: number,
  lastLine = false,
): number {
  let i = from;
  while (i < to) {
    const lf = i < linesEnd ? src.indexOf(LF, i) : -1;
    const complete = lf >= 0 && lf < to;
    let end = complete ? lf : to;
    if (complete && end > i && src[end - 1] === CR) end--;
    if (complete || lastLine) {
      // the line's own text: without its break and trailing padding
      while (end > i && (src[end - 1] === SP || src[end - 1] === TAB)) end--;
    }
    let soft = false;
    if ((complete || lastLine) && end > i && src[end - 1] === EQ) {
      soft = true;
      end--;
    }
    for (let j = i; j < end; j++) {
      const c = src[j]!;
      if (c === EQ && j + 2 < end) {
        const h = HEX[src[j + 1]!]!;
        const l = HEX[src[j + 2]!]!;
        if (h !== 255 && l !== 255) {
          out[n++] = (h << 4) | l;
          j += 2;
          continue;
        }
      }
      out[n++] = c;
    }
    if (complete) {
      if (!soft) {
        out[n++] = CR;
        out[n++] = LF;
      }
      i = lf + 1;
    } else {
      i = to;
    }
  }
  return n;
}

/** Q encoding of RFC 2047 §4.2 (encoded words): "_" is SP, "=XX" an octet, the rest as is. */
export function decodeQ(src: Uint8Array): Buffer {
  const b = asBuffer(src);
  const out = Buffer.allocUnsafe(b.length);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x5f) out[n++] = SP;
    else if (c === EQ && i + 2 < b.length && HEX[b[i + 1]!] !== 255 && HEX[b[i + 2]!] !== 255) {
      out[n++] = (HEX[b[i + 1]!]! << 4) | HEX[b[i + 2]!]!;
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

/** Passes 7bit, 8bit and binary bodies through (an identity decoder). */
class IdentityDecoder implements ByteDecoder {
  push(chunk: Uint8Array): Buffer {
    return asBuffer(chunk);
  }
  end(): Buffer {
    return Buffer.alloc(0);
  }
}

/**
 * The decoder for a Content-Transfer-Encoding (null or "" means 7bit), or
 * null for an encoding this module does not know (RFC 3516 §4.3: BINARY
 * answers [UNKNOWN-CTE]).
 */
export function createTransferDecoder(encoding: string | null | undefined): ByteDecoder | null {
  switch ((encoding ?? "7bit").trim().toLowerCase()) {
    case "":
    case "7bit":
    case "8bit":
    case "binary":
      return new IdentityDecoder();
    case "base64":
      return new Base64Decoder();
    case "quoted-printable":
      return new QuotedPrintableDecoder();
    default:
      return null;
  }
}

/** A whole body decoded at once; null for an unknown encoding. */
export function decodeTransfer(body: Uint8Array, encoding: string | null | undefined): Buffer | null {
  const d = createTransferDecoder(encoding);
  if (d === null) return null;
  const head = d.push(body);
  const tail = d.end();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

/**
 * Decodes a stream of chunks; resolves with the decoded body (null: unknown
 * encoding). With the encoded length known, the output is written into one
 * Buffer of the decoder's bound (base64: ¾ of the input; quoted-printable:
 * twice it, of which only the written pages take memory), so the decoded
 * body is never held twice (pieces plus their concatenation).
 */
export async function decodeTransferStream(
  source: AsyncIterable<Uint8Array>,
  encoding: string | null | undefined,
  encodedLength?: number,
): Promise<Buffer | null> {
  const d = createTransferDecoder(encoding);
  if (d === null) return null;
  let out = Buffer.allocUnsafe(encodedLength === undefined ? 64 * 1024 : outputBound(d, encodedLength));
  let n = 0;
  const append = (piece: Buffer) => {
    if (n + piece.length > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, n + piece.length));
      out.copy(bigger, 0, 0, n);
      out = bigger;
    }
    piece.copy(out, n);
    n += piece.length;
  };
  for await (const chunk of source) append(d.push(chunk));
  append(d.end());
  return out.subarray(0, n);
}

/** Most octets `d` can give for `length` input octets. */
function outputBound(d: ByteDecoder, length: number): number {
  if (d instanceof Base64Decoder) return Math.floor((length * 3) / 4) + 2;
  if (d instanceof QuotedPrintableDecoder) return length * 2 + 2;
  return length;
}
