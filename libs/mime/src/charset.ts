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

/** Text from a charset, chunk by chunk: a character split across chunks comes out whole. */
export interface CharsetStreamDecoder {
  write(chunk: Uint8Array): string;
  end(): string;
}

/**
 * The streaming form of decodeCharset, with the same charset choice. For
 * us-ascii and unknown charsets (UTF-8 if valid, else ISO-8859-1) the choice
 * is made per chunk once the first invalid UTF-8 octet is seen: text already
 * returned stays UTF-8, the rest is ISO-8859-1.
 */
export function createCharsetDecoder(charset: string): CharsetStreamDecoder {
  const star = charset.indexOf("*");
  const cs = (star >= 0 ? charset.slice(0, star) : charset).trim();
  let known: TextDecoder | null = null;
  if (!/^(us-)?ascii$/i.test(cs)) {
    try {
      known = new TextDecoder(cs.toLowerCase() === "utf8" ? "utf-8" : cs);
    } catch {
      known = null;
    }
  }
  if (known !== null) {
    const dec = known;
    return { write: (b) => dec.decode(b, { stream: true }), end: () => dec.decode() };
  }
  if (cs !== "" && !/^(us-)?ascii$/i.test(cs) && iconv.encodingExists(cs)) {
    // iconv-lite's streaming decoders lose state across small chunks (UTF-7
    // in one-octet chunks decodes wrong), so the rare charsets only it knows
    // are collected and decoded at the end
    const pieces: Buffer[] = [];
    return {
      write: (b) => {
        pieces.push(Buffer.from(b));
        return "";
      },
      end: () => iconv.decode(Buffer.concat(pieces.splice(0)), cs),
    };
  }
  // UTF-8 while valid, then ISO-8859-1 for the rest: the octets of a
  // character still incomplete at a chunk's end wait for the next chunk
  let utf8 = true;
  let pending: Buffer = Buffer.alloc(0);
  return {
    write(b) {
      const data = pending.length === 0 ? Buffer.from(b) : Buffer.concat([pending, b]);
      if (!utf8) return data.toString("latin1");
      const cut = data.length - incompleteUtf8Tail(data);
      try {
        const text = utf8Strict.decode(data.subarray(0, cut));
        pending = data.subarray(cut);
        return text;
      } catch {
        utf8 = false;
        pending = Buffer.alloc(0);
        return data.toString("latin1");
      }
    },
    end() {
      const rest = pending;
      pending = Buffer.alloc(0);
      return rest.toString("latin1");
    },
  };
}

/** Octets at the end of `b` that start a UTF-8 sequence it does not complete (0 to 3). */
function incompleteUtf8Tail(b: Buffer): number {
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const c = b[b.length - back]!;
    if ((c & 0xc0) === 0x80) continue; // continuation octet: look further back
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}
