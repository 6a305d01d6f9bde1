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
  return collapsed(text);
}

/** Up to `max` code points of `s`. */
function firstCodePoints(s: string, max: number): string[] {
  const out: string[] = [];
  if (max <= 0) return out;
  for (const c of s) if (out.push(c) === max) break;
  return out;
}

/**
 * The first PREVIEW_CHARS code points of `text` with whitespace runs collapsed
 * to one space and the ends trimmed. Only a growing prefix is collapsed (a
 * 4 KB prefix was collapsed and split into code points whole, per message):
 * once a prefix yields two code points more than kept, what follows cannot
 * change the kept ones (two collapsed code points in a row are not both
 * whitespace, so the final trim stops before them; a cut at the prefix's end
 * lands after them).
 */
function collapsed(text: string): string {
  for (let n = 1024; n < text.length; n *= 4) {
    const chars = firstCodePoints(text.slice(0, n).replace(/\s+/gu, " ").trimStart(), PREVIEW_CHARS + 2);
    if (chars.length === PREVIEW_CHARS + 2) return chars.slice(0, PREVIEW_CHARS).join("");
  }
  const whole = text.replace(/\s+/gu, " ").trim();
  const chars = firstCodePoints(whole, PREVIEW_CHARS + 1);
  return chars.length > PREVIEW_CHARS ? chars.slice(0, PREVIEW_CHARS).join("") : whole;
}
