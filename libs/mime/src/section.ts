// IMAP section resolver (RFC 3501 §6.4.5 / RFC 9051 §6.4.5 BODY[...]): maps
// a section spec and the stored part offsets to the byte range to read from
// the blob store, so BODY[2] of a 20 MB message is one ranged GET of that
// part and BODY[1]<0.2048> reads 2 KB.
//
// Addressing rules:
//  * part numbers walk multiparts; a non-multipart (top level or encapsulated
//    message) has just part 1, its own body;
//  * a number after a message/rfc822 part continues inside the encapsulated
//    message, so 2.1 is the first part of the message in part 2 (or its body
//    when that message is not multipart);
//  * N.MIME is part N's own MIME header; for the top-level single part
//    ("1.MIME") that is the message header;
//  * N.HEADER, N.TEXT and N.HEADER.FIELDS[.NOT] apply to the message
//    encapsulated in part N; on any other part they are empty, as is any
//    part that does not exist;
//  * a partial <start.length> applies after extraction (and after header
//    filtering).
import { parseHeaderBlock } from "./header.ts";
import type { MessageIndex, PartNode } from "./types.ts";

export type SectionText = "" | "HEADER" | "TEXT" | "MIME" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT";

export interface SectionSpec {
  /** Part numbers, [] for the top level. */
  part: number[];
  text: SectionText;
  /** Header field names (upper case) for HEADER.FIELDS[.NOT]. */
  fields?: string[];
  partial?: { start: number; length: number | null };
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface ResolvedSection {
  /** The section's bytes in the stored message, before filtering and partial. */
  range: ByteRange;
  /**
   * Set for HEADER.FIELDS[.NOT]: read `range`, run filterHeaderFields on it,
   * then apply `partial`.
   */
  headerFields?: { names: string[]; not: boolean };
  partial?: { start: number; length: number | null };
  /**
   * What to GET from the blob store. Without headerFields this is already
   * narrowed by the partial and is exactly the answer; with headerFields it
   * equals `range`.
   */
  read: ByteRange;
  /** The section does not exist: the answer is an empty string. */
  empty: boolean;
}

/** Parses an astring list "(A "b c" D)" into upper-case names; null if malformed. */
function parseFieldList(s: string): string[] | null {
  const t = s.trim();
  if (!t.startsWith("(") || !t.endsWith(")")) return null;
  const inner = t.slice(1, -1);
  const names: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s()"]+))/gy;
  let pos = 0;
  while (pos < inner.length) {
    if (/^\s*$/.test(inner.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(inner);
    if (m === null) return null;
    names.push((m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!).toUpperCase());
    pos = re.lastIndex;
  }
  return names.length > 0 ? names : null;
}

/**
 * Parses a section spec as it appears between the brackets of BODY[...],
 * optionally followed by a partial "<start.length>". Returns null when the
 * spec is syntactically invalid (the command is then a BAD).
 */
export function parseSectionSpec(spec: string): SectionSpec | null {
  let s = spec.trim();
  let partial: SectionSpec["partial"];
  const pm = /<(\d+)(?:\.(\d+))?>$/.exec(s);
  if (pm !== null) {
    partial = { start: Number(pm[1]), length: pm[2] === undefined ? null : Number(pm[2]) };
    s = s.slice(0, pm.index);
    if (s.endsWith("]")) s = s.slice(0, -1);
  }
  const nm = /^(\d+(?:\.\d+)*)(?:\.|$)/.exec(s);
  const part: number[] = [];
  if (nm !== null) {
    for (const n of nm[1]!.split(".")) {
      const v = Number(n);
      if (v === 0 || !Number.isSafeInteger(v)) return null;
      part.push(v);
    }
    s = s.slice(nm[1]!.length);
    if (s.startsWith(".")) {
      s = s.slice(1);
      if (s === "") return null;
    }
  }
  const upper = s.toUpperCase();
  let out: SectionSpec;
  if (upper === "") out = { part, text: "" };
  else if (upper === "HEADER" || upper === "TEXT") out = { part, text: upper };
  else if (upper === "MIME") {
    if (part.length === 0) return null;
    out = { part, text: "MIME" };
  } else if (upper.startsWith("HEADER.FIELDS.NOT")) {
    const fields = parseFieldList(s.slice(17));
    if (fields === null) return null;
    out = { part, text: "HEADER.FIELDS.NOT", fields };
  } else if (upper.startsWith("HEADER.FIELDS")) {
    const fields = parseFieldList(s.slice(13));
    if (fields === null) return null;
    out = { part, text: "HEADER.FIELDS", fields };
  } else return null;
  if (partial !== undefined) out.partial = partial;
  return out;
}

/** Walks part numbers like the reference server (see the module comment). */
function findPart(root: PartNode, numbers: number[]): PartNode | null {
  let part: PartNode | null = root;
  for (let i = 0; i < numbers.length && part !== null; i++) {
    const num = numbers[i]!;
    const more = i + 1 < numbers.length;
    if (part.children !== undefined) {
      part = part.children[num - 1] ?? null;
    } else if (num !== 1 || (more && part.message === undefined)) {
      part = null;
    }
    if (part !== null && part.message !== undefined && more) part = part.message;
  }
  return part;
}

function applyPartial(range: ByteRange, partial: SectionSpec["partial"]): ByteRange {
  if (partial === undefined) return range;
  const start = Math.min(partial.start, range.length);
  const end = partial.length === null ? range.length : Math.min(range.length, start + partial.length);
  return { offset: range.offset + start, length: Math.max(0, end - start) };
}

/**
 * Resolves a section (string spec or parsed) against a stored index.
 * Returns null for a syntactically invalid spec.
 */
export function resolveSection(
  index: Pick<MessageIndex, "parts" | "size">,
  spec: string | SectionSpec,
): ResolvedSection | null {
  const sp = typeof spec === "string" ? parseSectionSpec(spec) : spec;
  if (sp === null) return null;
  const root = index.parts;
  let range: ByteRange | null = null;
  if (sp.part.length === 0) {
    if (sp.text === "") range = { offset: 0, length: index.size };
    else if (sp.text === "TEXT") range = { offset: root.bodyStart, length: root.bodyEnd - root.bodyStart };
    else if (sp.text === "MIME") return null;
    else range = { offset: root.headerStart, length: root.bodyStart - root.headerStart };
  } else {
    const part = findPart(root, sp.part);
    if (part !== null) {
      if (sp.text === "") range = { offset: part.bodyStart, length: part.bodyEnd - part.bodyStart };
      else if (sp.text === "MIME")
        range = { offset: part.headerStart, length: part.bodyStart - part.headerStart };
      else if (part.message !== undefined) {
        const m = part.message;
        range =
          sp.text === "TEXT"
            ? { offset: m.bodyStart, length: m.bodyEnd - m.bodyStart }
            : { offset: m.headerStart, length: m.bodyStart - m.headerStart };
      }
    }
  }
  if (range === null) {
    const none = { offset: 0, length: 0 };
    return { range: none, read: none, empty: true };
  }
  const out: ResolvedSection = { range, read: range, empty: false };
  if (sp.partial !== undefined) out.partial = sp.partial;
  if (sp.text === "HEADER.FIELDS" || sp.text === "HEADER.FIELDS.NOT") {
    out.headerFields = { names: sp.fields ?? [], not: sp.text === "HEADER.FIELDS.NOT" };
  } else {
    out.read = applyPartial(range, sp.partial);
  }
  return out;
}

/**
 * HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 3501 §6.4.5): keeps (or drops) the
 * fields whose name is in `names` (case-insensitive), each with its
 * continuation lines, byte for byte, followed by the empty line that ends
 * the header (RFC 3501: the delimiting blank line is included in all header
 * fetches, except for a message with no body and no blank line).
 */
const CRLF = Buffer.from("\r\n");

export function filterHeaderFields(header: Uint8Array, names: readonly string[], not: boolean): Buffer {
  const buf = Buffer.isBuffer(header)
    ? header
    : Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const block = buf.toString("latin1");
  const fields = parseHeaderBlock(block);
  const pieces: Buffer[] = [];
  let end = 0;
  for (const f of fields) {
    end = f.end;
    if (wanted.has(f.name.toLowerCase()) !== not) {
      pieces.push(buf.subarray(f.start, f.end));
      // a header that a boundary or the end of input cut off mid-line: a
      // field line still ends in CRLF (RFC 5322 §2.2), so the subset is lines
      if (f.end === buf.length && buf[f.end - 1] !== 0x0a) pieces.push(CRLF);
    }
  }
  // the header's terminating empty line, as stored; a message with no body
  // and no blank line gets none (RFC 3501 §6.4.5)
  const eoh = buf.subarray(end);
  if (eoh[0] === 0x0a) pieces.push(eoh.subarray(0, 1));
  else if (eoh[0] === 0x0d && eoh[1] === 0x0a) pieces.push(eoh.subarray(0, 2));
  return Buffer.concat(pieces);
}

/** Applies a partial to bytes already extracted (e.g. after filterHeaderFields). */
export function slicePartial(bytes: Buffer, partial: SectionSpec["partial"]): Buffer {
  const r = applyPartial({ offset: 0, length: bytes.length }, partial);
  return bytes.subarray(r.offset, r.offset + r.length);
}
