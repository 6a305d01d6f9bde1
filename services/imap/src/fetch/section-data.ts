/**
 * BODY[section]<partial> and BINARY[part] content from the blob store: the MIME
 * index names the byte range, and only that range is read (a ranged GET on S3).
 * Small ranges are read into a Buffer; large ones are streamed to the socket.
 */
import type { BlobStore } from "@aerogram/blobstore";
import type { BodySection, ImapValue, Partial } from "@aerogram/imap-protocol";
import { literal, streamLiteral } from "@aerogram/imap-protocol";
import {
  createTransferDecoder,
  decodeTransfer,
  decodeTransferStream,
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
/** An empty section is answered as the literal {0} (as Dovecot does), not "". */
const EMPTY = literal(Buffer.alloc(0));

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
  if (!resolved || resolved.empty) return EMPTY;
  if (resolved.headerFields) {
    const header = await blobs.read(blobKey, resolved.range.offset, resolved.range.length);
    const filtered = filterHeaderFields(header, resolved.headerFields.names, resolved.headerFields.not);
    return literal(slicePartial(filtered, resolved.partial));
  }
  const { offset, length } = resolved.read;
  if (length === 0) return EMPTY;
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

/**
 * BINARY[part]: the part's body with its Content-Transfer-Encoding removed
 * (RFC 3516). The encoded body is streamed from the blob store through
 * libs/mime's decoder, so only the decoded octets are held whole.
 */
export async function decodedPart(
  blobs: BlobStore,
  blobKey: string,
  mime: StoredMime,
  numbers: readonly number[],
): Promise<Buffer> {
  const part = numbers.length === 0 ? mime.parts : findPart(mime.parts, numbers);
  if (!part) throw no("No such message part", "NONEXISTENT");
  const start = numbers.length === 0 ? part.headerStart : part.bodyStart;
  const length = part.bodyEnd - start;
  const encoding = part.children || part.message || numbers.length === 0 ? null : part.encoding;
  if (createTransferDecoder(encoding) === null) throw no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE");
  if (length <= STREAM_THRESHOLD) return decodeTransfer(await blobs.read(blobKey, start, length), encoding)!;
  return (await decodeTransferStream(await blobs.getRange(blobKey, start, length), encoding, length))!;
}

export function binaryValue(data: Buffer, partial: Partial | null): ImapValue {
  const bytes = partial ? slicePartial(data, { start: partial.offset, length: partial.length }) : data;
  return literal(bytes, { binary: bytes.includes(0) });
}
