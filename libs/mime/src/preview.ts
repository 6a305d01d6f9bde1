// Short plain-text preview (RFC 8970 PREVIEW, snippets) from the first bytes
// of a text part: the bounded prefix is transfer-decoded (quoted-printable,
// base64), charset-decoded, stripped of HTML when needed, and whitespace
// collapsed. Only that prefix is ever decoded.
import { decodeCharset } from "./charset.ts";

export const PREVIEW_CHARS = 200;

/** Quoted-printable (RFC 2045 §6.7), lenient: invalid escapes are kept literally. */
export function decodeQuotedPrintable(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c !== 0x3d) {
      out[n++] = c;
      continue;
    }
    // soft line break: "=" [whitespace] CRLF
    let j = i + 1;
    while (j < src.length && (src[j] === 0x20 || src[j] === 0x09)) j++;
    if (j < src.length && (src[j] === 0x0d || src[j] === 0x0a)) {
      i = src[j] === 0x0d && src[j + 1] === 0x0a ? j + 1 : j;
      continue;
    }
    if (j >= src.length) break; // "=" at the (truncated) end
    const h = hexVal(src[i + 1]);
    const l = hexVal(src[i + 2]);
    if (h >= 0 && l >= 0) {
      out[n++] = (h << 4) | l;
      i += 2;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

function hexVal(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Base64 of a prefix: ignores non-alphabet bytes, drops an incomplete last quantum. */
export function decodeBase64Prefix(src: Buffer): Buffer {
  const clean = src.toString("latin1").replace(/[^A-Za-z0-9+/]/g, "");
  return Buffer.from(clean.slice(0, clean.length - (clean.length % 4)), "base64");
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

/** Rough HTML to text: drops head/script/style, tags and comments; decodes common entities. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(head|script|style)\b[\s\S]*?(<\/\1\s*>|$)/gi, " ")
    .replace(/<!--[\s\S]*?(-->|$)/g, " ")
    .replace(/<\/?(p|div|br|tr|li|h\d)\b[^>]*>/gi, " ")
    .replace(/<[^>]*(>|$)/g, "")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === "#") {
        const cp =
          e[1] === "x" || e[1] === "X" ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
        return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/**
 * Preview text of a body prefix. `complete` says whether the prefix is the
 * whole body (otherwise a possibly cut last character is dropped).
 */
export function makePreview(
  prefix: Buffer,
  encoding: string | null,
  charset: string | null,
  html: boolean,
  complete: boolean,
): string {
  const enc = (encoding ?? "7bit").toLowerCase();
  let bytes = prefix;
  if (enc === "quoted-printable") bytes = decodeQuotedPrintable(prefix);
  else if (enc === "base64") bytes = decodeBase64Prefix(prefix);
  let text = decodeCharset(bytes, charset ?? "us-ascii");
  if (!complete && text.endsWith("\ufffd")) text = text.slice(0, -1);
  if (html) text = htmlToText(text);
  text = text.replace(/\s+/gu, " ").trim();
  const chars = Array.from(text);
  return chars.length > PREVIEW_CHARS ? chars.slice(0, PREVIEW_CHARS).join("") : text;
}
