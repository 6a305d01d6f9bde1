// RFC 2047 encoded-word decoding, for SEARCH text and display names.
// (ENVELOPE itself keeps encoded-words exactly as sent, RFC 3501 §7.4.2.)
import { byteStringToText, decodeCharset } from "./charset.ts";

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/** Decodes Q encoding (RFC 2047 §4.2): "_" is SP, "=XX" an octet. */
export function decodeQ(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) out[n++] = 0x20;
    else if (c === 0x3d && i + 2 < text.length && isHex(text, i + 1) && isHex(text, i + 2)) {
      out[n++] = Number.parseInt(text.slice(i + 1, i + 3), 16);
      i += 2;
    } else out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}

function isHex(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Lenient base64: ignores characters outside the alphabet, tolerates missing padding. */
export function decodeBase64Lenient(text: string): Buffer {
  return Buffer.from(text.replace(/[^A-Za-z0-9+/]/g, ""), "base64");
}

interface Word {
  charset: string;
  bytes: Buffer;
}

/**
 * Decodes a header value (byte string, possibly folded) into text: encoded
 * words are decoded, whitespace between two adjacent encoded words is dropped
 * (RFC 2047 §6.2), adjacent words in the same charset are joined before
 * decoding so a multi-byte character split across words survives, and raw
 * 8-bit text is taken as UTF-8 (RFC 6532) or, failing that, ISO-8859-1.
 */
export function decodeEncodedWords(value: string): string {
  const unfolded = value.replace(/\r?\n/g, "");
  if (!unfolded.includes("=?")) return byteStringToText(unfolded);
  let out = "";
  let last = 0;
  let pending: Word | null = null;
  const flush = () => {
    if (pending !== null) {
      out += decodeCharset(pending.bytes, pending.charset);
      pending = null;
    }
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(unfolded); m !== null; m = ENCODED_WORD.exec(unfolded)) {
    const between = unfolded.slice(last, m.index);
    const adjacent = pending !== null && /^[ \t]*$/.test(between);
    if (!adjacent) {
      flush();
      out += byteStringToText(between);
    }
    const charset = m[1]!;
    const bytes = m[2] === "B" || m[2] === "b" ? decodeBase64Lenient(m[3]!) : decodeQ(m[3]!);
    const p = pending as Word | null;
    if (p !== null && p.charset.toLowerCase() === charset.toLowerCase()) {
      p.bytes = Buffer.concat([p.bytes, bytes]);
    } else {
      flush();
      pending = { charset, bytes };
    }
    last = m.index + m[0].length;
  }
  flush();
  out += byteStringToText(unfolded.slice(last));
  return out;
}
