// The streaming indexer: feed the raw message in chunks of any size, get the
// MessageIndex at the end. Memory use is bounded by one part's header (at
// most MAX_HEADER_BYTES), the preview prefixes and a line of carry-over, not
// by the message size. Never throws on message content.
import type { Readable } from "node:stream";
import type { Address } from "./address.ts";
import {
  analysePart,
  buildBodyStructure,
  emptyPartInfo,
  FLAG_MULTIPART,
  FLAG_TEXT,
  mediaType,
  type PartInfo,
  partCharset,
  partFilename,
} from "./bodystructure.ts";
import { byteStringToText } from "./charset.ts";
import { emptyEnvelope, withDefaults } from "./envelope.ts";
import { makePreview } from "./preview.ts";
import { buildSearchFields } from "./search.ts";
import { type Envelope, serializeBodyStructure, serializeEnvelope } from "./serializer.ts";
import { PartKind, type RawPart, Splitter } from "./splitter.ts";
import type { MessageIndex, PartNode } from "./types.ts";

const PREVIEW_PLAIN_BYTES = 4096;
const PREVIEW_HTML_BYTES = 16384;

export interface Indexer {
  /** Feeds the next chunk of the message. */
  write(chunk: Uint8Array): void;
  /** Ends the input and returns the index. */
  end(): MessageIndex;
  /** Octets fed so far. */
  readonly bytesWritten: number;
}

export function createIndexer(): Indexer {
  let plain: RawPart<PartInfo> | null = null;
  let html: RawPart<PartInfo> | null = null;
  let written = 0;
  const previewBytes = (part: RawPart<PartInfo>, info: PartInfo): number => {
    if ((info.flags & FLAG_TEXT) === 0) return 0;
    if (info.disposition !== null && info.disposition.type.toLowerCase() === "attachment") return 0;
    const sub = (info.contentType?.subtype ?? "plain").toLowerCase();
    if (sub === "plain" && plain === null) {
      plain = part;
      return PREVIEW_PLAIN_BYTES;
    }
    if (sub === "html" && html === null) {
      html = part;
      return PREVIEW_HTML_BYTES;
    }
    return 0;
  };
  const splitter = new Splitter<PartInfo>(
    (header, part, canNest) => analysePart(header, part, canNest, previewBytes),
    emptyPartInfo(),
  );
  let result: MessageIndex | null = null;
  return {
    write(chunk: Uint8Array): void {
      if (result !== null) throw new Error("indexer already ended");
      written += chunk.length;
      splitter.write(chunk);
    },
    end(): MessageIndex {
      if (result === null) {
        const root = splitter.end();
        const chosen: RawPart<PartInfo> | null = plain ?? html;
        result = buildIndex(root, written, splitter.lineCount, chosen, chosen !== null && chosen === html);
      }
      return result;
    },
    get bytesWritten() {
      return written;
    },
  };
}

function textAddresses(list: Address[] | null): Address[] | null {
  if (list === null) return null;
  const t = (s: string | null) => (s === null ? null : byteStringToText(s));
  return list.map((a) => ({ name: t(a.name), adl: t(a.adl), mailbox: t(a.mailbox), host: t(a.host) }));
}

function textEnvelope(env: Envelope): Envelope {
  const t = (s: string | null) => (s === null ? null : byteStringToText(s));
  return {
    date: t(env.date),
    subject: t(env.subject),
    from: textAddresses(env.from),
    sender: textAddresses(env.sender),
    replyTo: textAddresses(env.replyTo),
    to: textAddresses(env.to),
    cc: textAddresses(env.cc),
    bcc: textAddresses(env.bcc),
    inReplyTo: t(env.inReplyTo),
    messageId: t(env.messageId),
  };
}

function toNode(p: RawPart<PartInfo>, section: string): PartNode {
  const info = p.info;
  const node: PartNode = {
    section,
    headerStart: p.headerStart,
    bodyStart: p.bodyStart,
    bodyEnd: p.bodyEnd,
    contentType: mediaType(info),
    size: p.bodyEnd - p.bodyStart,
    lines: p.lines,
  };
  const enc = info.encoding?.toLowerCase();
  if (enc !== undefined && enc !== "7bit") node.encoding = byteStringToText(enc);
  const cs = partCharset(info);
  if (cs !== null) node.charset = cs;
  const fn = partFilename(info);
  if (fn !== null) node.filename = fn;
  if (info.disposition !== null) node.disposition = byteStringToText(info.disposition.type).toLowerCase();
  if (info.flags & FLAG_MULTIPART) {
    node.children = p.children.map((c, i) => toNode(c, section === "" ? `${i + 1}` : `${section}.${i + 1}`));
  } else if (p.kind === PartKind.Message && p.children[0] !== undefined) {
    node.message = toNode(p.children[0], section === "" ? "1" : section);
  }
  return node;
}

function buildIndex(
  root: RawPart<PartInfo>,
  size: number,
  lines: number,
  previewPart: RawPart<PartInfo> | null,
  previewIsHtml: boolean,
): MessageIndex {
  const env = withDefaults(root.info.envelope ?? emptyEnvelope());
  const bs = buildBodyStructure(root);
  let preview = "";
  if (previewPart !== null && previewPart.capture !== null) {
    const info = previewPart.info;
    const complete = previewPart.capture.length >= previewPart.bodyEnd - previewPart.bodyStart;
    preview = makePreview(previewPart.capture, info.encoding, partCharset(info), previewIsHtml, complete);
  }
  return {
    v: 1,
    size,
    lines,
    envelope: textEnvelope(env),
    envelopeImap: serializeEnvelope(env),
    bodyStructureImap: serializeBodyStructure(bs, { extensible: true }),
    bodyImap: serializeBodyStructure(bs, { extensible: false }),
    parts: toNode(root, ""),
    search: buildSearchFields(env),
    preview,
  };
}

export type MessageSource = Readable | AsyncIterable<Uint8Array> | Uint8Array;

/** Indexes a whole message from a stream, an async iterable of chunks or a buffer. */
export async function indexMessage(source: MessageSource): Promise<MessageIndex> {
  const ix = createIndexer();
  if (source instanceof Uint8Array) {
    ix.write(source);
    return ix.end();
  }
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    ix.write(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk);
  }
  return ix.end();
}

/** Synchronous variant for a message already in memory. */
export function indexMessageSync(message: Uint8Array): MessageIndex {
  const ix = createIndexer();
  ix.write(message);
  return ix.end();
}
