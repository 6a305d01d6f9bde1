/**
 * Maps the MIME indexer's output onto the store's message columns: the IMAP
 * strings FETCH splices in as they are, the decoded fields SEARCH reads, and
 * the part tree (with byte offsets) that section fetches resolve against.
 */
import type { MessageIndex, PartNode } from "@aerogram/mime";
import type { IndexColumns } from "@aerogram/store";

/** What messages.mime holds: enough for resolveSection (parts + size). */
export interface StoredMime {
  v: number;
  size: number;
  lines: number;
  parts: PartNode;
}

export function toIndexColumns(index: MessageIndex): IndexColumns {
  const s = index.search;
  const sentAt = s.sentAt ? new Date(s.sentAt) : null;
  return {
    envelope: index.envelopeImap,
    bodyStructure: index.bodyStructureImap,
    body: index.bodyImap,
    mime: { v: index.v, size: index.size, lines: index.lines, parts: index.parts } satisfies StoredMime,
    headerDate: sentAt && !Number.isNaN(sentAt.getTime()) ? sentAt : null,
    subject: s.subject || null,
    from: s.from || null,
    to: s.to || null,
    cc: s.cc || null,
    bcc: s.bcc || null,
    messageId: s.messageId || null,
    inReplyTo: s.inReplyTo || null,
    preview: index.preview || null,
  };
}
