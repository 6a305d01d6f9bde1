/**
 * Writing the search rows (libs/store search/, migration 010) of delivered,
 * appended and older messages: the full-text (libs/mime search-text.ts) and
 * the SORT/THREAD keys (libs/mime sort-keys.ts).
 *
 * Delivery and APPEND write the rows right after their commit, from the
 * bytes they just stored (captured while streaming, up to CAPTURE_BYTES;
 * a larger message's blob is read back). A failure there is logged and
 * loses nothing: a message without its row is searched by reading its blob,
 * and the backfill (search-backfill.ts) writes the row later. Not being in
 * the delivery's transaction keeps the delivery's latency and lock hold as
 * they were.
 */
import type { BlobStore } from "@aerogram/blobstore";
import {
  DEFAULT_MAX_BODY_CHARS,
  extractSearchText,
  indexMessageSync,
  type MessageIndex,
  sortKeys,
} from "@aerogram/mime";
import type { Appended, SearchRow, Store, UnindexedMessage } from "@aerogram/store";

/** Message bytes read for the search text (the scan fallback reads the same prefix). */
export const MAX_SEARCH_READ_BYTES = 16 * 1024 * 1024;

export interface SearchIndexOptions {
  /** Bound of the indexed body text per message (characters). */
  maxBodyChars?: number;
}

/** The search row's fields of one message (everything but where it is). */
export function searchFields(
  index: MessageIndex,
  raw: Uint8Array,
  maxBodyChars = DEFAULT_MAX_BODY_CHARS,
): Omit<SearchRow, "mailboxId" | "uid"> {
  const text = extractSearchText(raw, index.parts, maxBodyChars);
  const keys = sortKeys(index);
  return {
    header: text.header,
    body: text.body,
    attachmentNames: text.attachmentNames,
    // a prefix of the bytes (a message larger than the read) can't claim to be complete
    complete: text.complete && raw.length >= index.size,
    baseSubject: keys.baseSubject,
    replyOrForward: keys.isReplyOrForward,
    fromMailbox: keys.fromMailbox,
    toMailbox: keys.toMailbox,
    ccMailbox: keys.ccMailbox,
    displayFrom: keys.displayFrom,
    displayTo: keys.displayTo,
    refs: text.references,
  };
}

export class SearchIndexer {
  readonly #maxBodyChars: number;

  constructor(
    private readonly deps: { store: Store; blobs: BlobStore },
    options: SearchIndexOptions = {},
  ) {
    this.#maxBodyChars = options.maxBodyChars ?? DEFAULT_MAX_BODY_CHARS;
  }

  /**
   * Rows for messages just committed: `messages[i]` (its index and, when
   * captured, its bytes) was appended as `uids[i]` of each Appended.
   */
  async indexCommitted(
    messages: readonly { key: string; size: number; index: MessageIndex; bytes?: Uint8Array | undefined }[],
    appended: readonly Appended[],
  ): Promise<void> {
    const fields = await Promise.all(
      messages.map(async (m) => {
        const raw =
          m.bytes ?? (await this.deps.blobs.read(m.key, 0, Math.min(m.size, MAX_SEARCH_READ_BYTES)));
        return searchFields(m.index, raw, this.#maxBodyChars);
      }),
    );
    const rows: SearchRow[] = [];
    for (const a of appended) {
      a.uids.forEach((uid, i) => {
        const f = fields[i];
        if (f) rows.push({ mailboxId: a.mailboxId, uid, ...f });
      });
    }
    await this.deps.store.search.write(rows);
  }

  /** Rows for stored messages (backfill, or SORT/THREAD finding some missing): their blobs are read and indexed. */
  async indexStored(messages: readonly UnindexedMessage[], concurrency = 4): Promise<number> {
    const rows: SearchRow[] = [];
    let next = 0;
    const worker = async () => {
      while (next < messages.length) {
        const m = messages[next++]!;
        const raw = await this.deps.blobs.read(m.blobKey, 0, Math.min(m.size, MAX_SEARCH_READ_BYTES));
        const index = indexMessageSync(raw);
        // indexMessageSync saw only the bytes read: the size is the stored message's
        const fields = searchFields({ ...index, size: m.size }, raw, this.#maxBodyChars);
        rows.push({ mailboxId: m.mailboxId, uid: m.uid, ...fields });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
    return this.deps.store.search.write(rows);
  }
}
