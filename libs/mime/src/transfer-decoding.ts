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
  /** Most octets the next `length` input octets and end() can give together. */
  bound(length: number): number;
  /** push, writing at out[at] (room for bound(chunk.length) is the caller's); returns the new end. */
  pushInto(chunk: Uint8Array, out: Buffer, at: number): number;
  /** end, writing at out[at] (room for bound(0)); returns the new end. */
  endInto(out: Buffer, at: number): number;
}

/** push/end in terms of pushInto/endInto. */
abstract class IntoDecoder implements ByteDecoder {
  abstract bound(length: number): number;
  abstract pushInto(chunk: Uint8Array, out: Buffer, at: number): number;
  abstract endInto(out: Buffer, at: number): number;
  push(chunk: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(this.bound(chunk.length));
    return out.subarray(0, this.pushInto(chunk, out, 0));
  }
  end(): Buffer {
    const out = Buffer.allocUnsafe(this.bound(0));
    return out.subarray(0, this.endInto(out, 0));
  }
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
export class Base64Decoder extends IntoDecoder {
  private acc = 0;
  private have = 0;

  bound(length: number): number {
    return Math.floor(((this.have + length) * 3) / 4) + 2;
  }

  pushInto(chunk: Uint8Array, out: Buffer, at: number): number {
    const src = asBuffer(chunk);
    let n = at;
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
    return n;
  }

  endInto(out: Buffer, at: number): number {
    const n = flushQuantum(this.acc, this.have, out, at);
    this.acc = 0;
    this.have = 0;
    return n;
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
export class QuotedPrintableDecoder extends IntoDecoder {
  private carry: Buffer = Buffer.alloc(0);

  bound(length: number): number {
    // ≤ 1 output octet per input octet, plus one per LF (LF → CRLF)
    return 2 * (this.carry.length + length) + 2;
  }

  pushInto(chunk: Uint8Array, out: Buffer, at: number): number {
    let src = asBuffer(chunk);
    let n = at;
    if (this.carry.length > 0) {
      // finish the carried line with the chunk's first line, then go on in
      // the chunk itself (no copy of the whole chunk)
      const lf = src.indexOf(LF);
      if (lf < 0) src = Buffer.concat([this.carry, src]);
      else {
        const head = Buffer.concat([this.carry, src.subarray(0, lf + 1)]);
        n = decodeQpLines(head, 0, head.length, head.length, out, n);
        src = src.subarray(lf + 1);
      }
      this.carry = Buffer.alloc(0);
    }
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
    return decodeQpLines(src, 0, keep, lastLf + 1, out, n);
  }

  endInto(out: Buffer, at: number): number {
    const src = this.carry;
    this.carry = Buffer.alloc(0);
    // the last line has no line break to end it: decoded as a line, without one
    return decodeQpLines(src, 0, src.length, src.length, out, at, true);
  }
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
class IdentityDecoder extends IntoDecoder {
  bound(length: number): number {
    return length;
  }
  override push(chunk: Uint8Array): Buffer {
    return asBuffer(chunk);
  }
  pushInto(chunk: Uint8Array, out: Buffer, at: number): number {
    return at + asBuffer(chunk).copy(out, at);
  }
  endInto(_out: Buffer, at: number): number {
    return at;
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
 * encoding). The decoder writes straight into one output Buffer; with the
 * encoded length known that Buffer is sized once from the decoder's bound
 * (of which only the written pages take memory), so the decoded body is
 * never held twice (per-chunk pieces plus their concatenation).
 */
export async function decodeTransferStream(
  source: AsyncIterable<Uint8Array>,
  encoding: string | null | undefined,
  encodedLength?: number,
): Promise<Buffer | null> {
  const d = createTransferDecoder(encoding);
  if (d === null) return null;
  // slack: the per-chunk bounds below each round up a little
  let out = Buffer.allocUnsafe(d.bound(encodedLength ?? 64 * 1024) + 64);
  let n = 0;
  const room = (need: number) => {
    if (n + need <= out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, n + need));
    out.copy(bigger, 0, 0, n);
    out = bigger;
  };
  for await (const chunk of source) {
    room(d.bound(chunk.length));
    n = d.pushInto(chunk, out, n);
  }
  room(d.bound(0));
  n = d.endInto(out, n);
  return out.subarray(0, n);
}
