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
  const chars = Array.from(text);
  return chars.length > PREVIEW_CHARS ? chars.slice(0, PREVIEW_CHARS).join("") : text;
}
