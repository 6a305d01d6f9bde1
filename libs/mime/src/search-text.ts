// The text SEARCH BODY/TEXT/HEADER match against (RFC 9051 §6.4.4), from a
// message's bytes and its stored part tree: one definition for the full-text
// index written at delivery and for the scan of messages not (completely)
// indexed, so both give the same answers.
//
//  * header: the top-level header fields as "name: value" lines, RFC 2047
//    words decoded, then the MIME headers of the parts (TEXT matches them, as
//    Dovecot's does: "TEXT q1.pdf" finds the attachment's filename; BODY not);
//  * body: the decoded text of every text/* (and application/octet-stream,
//    which is often mislabelled text) leaf part (Content-Transfer-Encoding,
//    then charset; HTML reduced to text), and the header of every
//    encapsulated message (message/rfc822 is body text of its parent);
//  * attachment names (decoded file names of the parts).
//
// Both texts are lower-cased (String#toLowerCase, locale-independent), the
// case-insensitive comparison SEARCH asks for, so a match is a plain substring
// test and the database never needs its own (collation-dependent) lower().
import { decodeCharset } from "./charset.ts";
import { decodeEncodedWords } from "./encoded-word.ts";
import { parseHeaderBlock } from "./header.ts";
import { htmlToText } from "./preview.ts";
import { decodeTransfer } from "./transfer-decoding.ts";
import type { PartNode } from "./types.ts";

export interface SearchText {
  /** Lower-cased "name: value" lines of the top-level header. */
  header: string;
  /** Lower-cased decoded body text, at most `maxBodyChars` characters. */
  body: string;
  /** Decoded file names of the parts, as written. */
  attachmentNames: string[];
  /** The raw References header's message ids (RFC 5256 §3 threading), in order. */
  references: string[];
  /** False when the body text was cut at the limit or the bytes ended early: the text is a prefix. */
  complete: boolean;
}

/** Default bound of the indexed body text per message (characters). */
export const DEFAULT_MAX_BODY_CHARS = 1024 * 1024;

/** "<a@b>" message ids in a References / In-Reply-To value (RFC 5322 §3.6.4), in order. */
export function messageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  for (const m of value.matchAll(/<([^<>\s]+)>/g)) out.push(`<${m[1]}>`);
  return out;
}

/**
 * The search text of a message. `raw` may be a prefix of the message (a
 * bounded read); parts beyond it are missing and the result is incomplete.
 */
export function extractSearchText(
  raw: Uint8Array,
  parts: PartNode | null,
  maxBodyChars = DEFAULT_MAX_BODY_CHARS,
): SearchText {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const headerEnd = parts ? Math.min(parts.bodyStart, buf.length) : headerBlockEnd(buf);
  const fields = parseHeaderBlock(buf.toString("latin1", 0, headerEnd));
  const headerLines = (fs: ReturnType<typeof parseHeaderBlock>) =>
    fs.map((f) => `${f.name}: ${decodeEncodedWords(f.value)}`).join("\n");
  const partHeaders: string[] = [];
  const refs = fields.filter((f) => f.name.toLowerCase() === "references").map((f) => f.value);
  const references = messageIds(refs.join(" "));
  const pieces: string[] = [];
  const names: string[] = [];
  let length = 0;
  let complete = parts ? parts.bodyEnd <= buf.length : true;
  const add = (text: string) => {
    if (length >= maxBodyChars) {
      if (text.length) complete = false;
      return;
    }
    const room = maxBodyChars - length;
    if (text.length > room) {
      complete = false;
      text = text.slice(0, room);
    }
    pieces.push(text);
    length += text.length + 1;
  };
  const walk = (part: PartNode) => {
    if (part.filename) names.push(part.filename);
    if (part !== parts && part.headerStart < part.bodyStart && part.bodyStart <= buf.length) {
      partHeaders.push(
        headerLines(parseHeaderBlock(buf.toString("latin1", part.headerStart, part.bodyStart))),
      );
    }
    if (part.children) for (const child of part.children) walk(child);
    else if (part.message) {
      add(buf.toString("latin1", part.message.headerStart, Math.min(part.message.bodyStart, buf.length)));
      walk(part.message);
    } else if (part.contentType.startsWith("text/") || part.contentType === "application/octet-stream") {
      if (part.bodyStart >= buf.length) {
        complete = false;
        return;
      }
      add(decodePart(buf, part));
    }
  };
  if (parts) walk(parts);
  else add(buf.toString("utf8"));
  const header = [headerLines(fields), ...partHeaders].join("\n").toLowerCase();
  return { header, body: pieces.join("\n").toLowerCase(), attachmentNames: names, references, complete };
}

function headerBlockEnd(buf: Buffer): number {
  const i = buf.indexOf("\r\n\r\n");
  return i < 0 ? buf.length : i + 2;
}

function decodePart(buf: Buffer, part: PartNode): string {
  const bytes = buf.subarray(part.bodyStart, Math.min(part.bodyEnd, buf.length));
  // an unknown transfer encoding is searched as it is stored
  const decoded = decodeTransfer(bytes, part.encoding) ?? bytes;
  let text: string;
  try {
    text = decodeCharset(decoded, part.charset ?? "us-ascii");
  } catch {
    text = decoded.toString("latin1");
  }
  return part.contentType === "text/html" ? htmlToText(text) : text;
}

/** Does a search text contain `needle` (any case) in the body (BODY) or header or body (TEXT)? */
export function searchTextMatches(text: SearchText, kind: "body" | "text", needle: string): boolean {
  const n = needle.toLowerCase();
  return text.body.includes(n) || (kind === "text" && text.header.includes(n));
}
