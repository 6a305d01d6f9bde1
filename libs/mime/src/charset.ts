// Charset decoding for RFC 2047 words, RFC 2231 values and the preview.
// WHATWG TextDecoder (full ICU in Node) covers the charsets real mail uses
// (KOI8-R, windows-125x, ISO-8859-x, GB18030, Shift_JIS, ISO-2022-JP, ...);
// iconv-lite is the fallback for the few it lacks (UTF-7, some IBM code pages).
import { TextDecoder } from "node:util";
import iconv from "iconv-lite";

const decoders = new Map<string, TextDecoder | null>();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function decoderFor(charset: string): TextDecoder | null {
  const key = charset.trim().toLowerCase();
  let dec = decoders.get(key);
  if (dec === undefined) {
    try {
      dec = new TextDecoder(key === "utf8" ? "utf-8" : key);
    } catch {
      dec = null;
    }
    if (decoders.size < 256) decoders.set(key, dec);
  }
  return dec;
}

/** True when the charset name is one we can decode. */
export function isKnownCharset(charset: string): boolean {
  return decoderFor(charset) !== null || iconv.encodingExists(charset.trim());
}

/**
 * Decodes bytes in the given charset. Unknown charsets fall back to UTF-8
 * when the bytes are valid UTF-8, else ISO-8859-1: never throws.
 */
export function decodeCharset(bytes: Uint8Array, charset: string): string {
  // RFC 2231 §5: a charset may carry a language suffix ("utf-8*en")
  const star = charset.indexOf("*");
  const cs = star >= 0 ? charset.slice(0, star) : charset;
  // "us-ascii" text with 8-bit octets is common: take them as UTF-8 if valid
  if (/^\s*(us-)?ascii\s*$/i.test(cs)) return bytesToText(bytes);
  const dec = decoderFor(cs);
  if (dec !== null) return dec.decode(bytes);
  const name = cs.trim();
  if (name !== "" && iconv.encodingExists(name)) return iconv.decode(Buffer.from(bytes), name);
  return bytesToText(bytes);
}

/** UTF-8 if the bytes are valid UTF-8 (RFC 6532 headers), else ISO-8859-1. */
export function bytesToText(bytes: Uint8Array): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return Buffer.from(bytes).toString("latin1");
  }
}

/** Byte string (one char per octet) to text, see bytesToText. */
export function byteStringToText(s: string): string {
  // fast path: pure ASCII needs no conversion
  if (!/[\x80-\xff]/.test(s)) return s;
  return bytesToText(Buffer.from(s, "latin1"));
}

/** Text to byte string (UTF-8 octets, one char each). */
export function textToByteString(s: string): string {
  return Buffer.from(s, "utf8").toString("latin1");
}
