// Short plain-text preview (RFC 8970 PREVIEW, snippets) from the first bytes
// of a text part: the bounded prefix is transfer-decoded (transfer-decoding.ts),
// charset-decoded, stripped of HTML when needed, and whitespace
// collapsed. Only that prefix is ever decoded.
import { decodeCharset } from "./charset.ts";
import { createTransferDecoder } from "./transfer-decoding.ts";

export const PREVIEW_CHARS = 200;

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
  // an unknown encoding is shown as it is; a cut-off prefix is decoded
  // without its unfinished end (a partial base64 quantum or "=X" escape)
  const decoder = createTransferDecoder(encoding);
  let bytes = prefix;
  if (decoder !== null) {
    bytes = decoder.push(prefix);
    if (complete) bytes = Buffer.concat([bytes, decoder.end()]);
  }
  let text = decodeCharset(bytes, charset ?? "us-ascii");
  if (!complete && text.endsWith("\ufffd")) text = text.slice(0, -1);
  if (html) text = htmlToText(text);
  text = text.replace(/\s+/gu, " ").trim();
  return firstCodePoints(text, PREVIEW_CHARS);
}

/**
 * The first `max` code points of `text` (a surrogate pair is one, a lone
 * surrogate one), as Array.from(text).slice(0, max).join("") gives them,
 * without an array of every character of the prefix (up to 16 KB of HTML).
 */
function firstCodePoints(text: string, max: number): string {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    if (count === max) return text.slice(0, i);
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return text;
}
