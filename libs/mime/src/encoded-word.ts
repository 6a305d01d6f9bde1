// RFC 2047 encoded-word decoding, for SEARCH text and display names.
// (ENVELOPE itself keeps encoded-words exactly as sent, RFC 3501 §7.4.2.)
import { byteStringToText, decodeCharset } from "./charset.ts";
import { decodeQ, decodeTransfer } from "./transfer-decoding.ts";

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

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
    const text = Buffer.from(m[3]!, "latin1");
    const bytes = m[2] === "B" || m[2] === "b" ? decodeTransfer(text, "base64")! : decodeQ(text);
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
