/**
 * BODY[section]<partial> and BINARY[part] content from the blob store: the MIME
 * index names the byte range, and only that range is read (a ranged GET on S3).
 * Small ranges are read into a Buffer; large ones are streamed to the socket.
 */
import type { BlobStore } from "@aerogram/blobstore";
import type { BodySection, ImapValue, Partial } from "@aerogram/imap-protocol";
import { literal, streamLiteral } from "@aerogram/imap-protocol";
import {
  filterHeaderFields,
  type PartNode,
  resolveSection,
  type SectionSpec,
  slicePartial,
} from "@aerogram/mime";
import { no } from "../errors.ts";

/** The stored `mime` jsonb (see libs/delivery index-columns.ts). */
export interface StoredMime {
  size: number;
  parts: PartNode;
}

const STREAM_THRESHOLD = 256 * 1024;

export function toSectionSpec(section: BodySection, partial: Partial | null): SectionSpec {
  const text = section.text;
  const spec: SectionSpec = {
    part: [...section.part],
    text: text === null ? "" : text.kind === "HEADER.FIELDS" && text.not ? "HEADER.FIELDS.NOT" : text.kind,
  };
  if (text?.kind === "HEADER.FIELDS") spec.fields = text.fields.map((f) => f.toUpperCase());
  if (partial) spec.partial = { start: partial.offset, length: partial.length };
  return spec;
}

export async function sectionValue(
  blobs: BlobStore,
  blobKey: string,
  mime: StoredMime,
  spec: SectionSpec,
): Promise<ImapValue> {
  const resolved = resolveSection(mime, spec);
  if (!resolved || resolved.empty) return "";
  if (resolved.headerFields) {
    const header = await blobs.read(blobKey, resolved.range.offset, resolved.range.length);
    const filtered = filterHeaderFields(header, resolved.headerFields.names, resolved.headerFields.not);
    return literal(slicePartial(filtered, resolved.partial));
  }
  const { offset, length } = resolved.read;
  if (length === 0) return "";
  if (length <= STREAM_THRESHOLD) return literal(await blobs.read(blobKey, offset, length));
  return streamLiteral(length, await blobs.getRange(blobKey, offset, length));
}

/** The part a BINARY part number names (RFC 3516 §4.1: part numbers as in BODY[]). */
export function findPart(root: PartNode, numbers: readonly number[]): PartNode | null {
  let part: PartNode | null = root;
  for (let i = 0; i < numbers.length && part !== null; i++) {
    const num = numbers[i]!;
    const more = i + 1 < numbers.length;
    if (part.children !== undefined) part = part.children[num - 1] ?? null;
    else if (num !== 1 || (more && part.message === undefined)) part = null;
    if (part !== null && part.message !== undefined && more) part = part.message;
  }
  return part;
}

/** BINARY[part]: the part's body with its Content-Transfer-Encoding removed (RFC 3516). */
export async function decodedPart(
  blobs: BlobStore,
  blobKey: string,
  mime: StoredMime,
  numbers: readonly number[],
): Promise<Buffer> {
  const part = numbers.length === 0 ? mime.parts : findPart(mime.parts, numbers);
  if (!part) throw no("No such message part", "NONEXISTENT");
  const start = numbers.length === 0 ? part.headerStart : part.bodyStart;
  const raw = await blobs.read(blobKey, start, part.bodyEnd - start);
  if (part.children || part.message || numbers.length === 0) return raw;
  switch (part.encoding ?? "7bit") {
    case "7bit":
    case "8bit":
    case "binary":
      return raw;
    case "base64":
      return Buffer.from(raw.toString("latin1").replace(/[^A-Za-z0-9+/]/g, ""), "base64");
    case "quoted-printable":
      return decodeQuotedPrintable(raw);
    default:
      throw no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE");
  }
}

export function binaryValue(data: Buffer, partial: Partial | null): ImapValue {
  const bytes = partial ? slicePartial(data, { start: partial.offset, length: partial.length }) : data;
  return literal(bytes, { binary: bytes.includes(0) });
}

function decodeQuotedPrintable(raw: Buffer): Buffer {
  const out = Buffer.alloc(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte !== 0x3d /* = */) {
      out[n++] = byte;
      continue;
    }
    const a = raw[i + 1];
    const b = raw[i + 2];
    if (a === 0x0d && b === 0x0a) i += 2;
    else if (a === 0x0a) i += 1;
    else if (a !== undefined && b !== undefined && isHex(a) && isHex(b)) {
      out[n++] = Number.parseInt(String.fromCharCode(a, b), 16);
      i += 2;
    } else out[n++] = byte;
  }
  return out.subarray(0, n);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}
