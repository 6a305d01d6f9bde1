/**
 * Writing the search rows (libs/store search/, migrations 010 and 080) of
 * stored messages: the full-text (libs/mime search-text.ts) and the
 * SORT/THREAD keys (libs/mime sort-keys.ts), from the message's blob.
 *
 * Delivery and APPEND don't call this: their ack path stores the blob and
 * commits, nothing more. The background indexer (search-index-worker.ts)
 * writes the rows soon after, in batches; until then SEARCH reads the blob of
 * a message without its row, and SORT/THREAD index it on the spot, so an
 * answer never depends on the indexer having caught up.
 */
import { BlobNotFoundError, type BlobStore } from "@aerogram/blobstore";
import {
  DEFAULT_MAX_BODY_CHARS,
  extractSearchText,
  indexMessageSync,
  type MessageIndex,
  sortKeys,
} from "@aerogram/mime";
import type { PendingMessage, SearchRow, Store, UnindexedMessage } from "@aerogram/store";

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

/** A message to index: where it is, and (from the indexer's batch) what orders its THREADID. */
export type MessageToIndex = UnindexedMessage &
  Partial<Pick<PendingMessage, "accountId" | "messageId" | "inReplyTo">>;

/**
 * A reply chain longer than this inside one batch is written in this many
 * statements at most; deeper messages share the last one (their THREADIDs may
 * then split, which RFC 8474 §5.2 allows; THREAD REFERENCES is unaffected).
 */
const MAX_GENERATIONS = 8;

export class SearchIndexer {
  readonly #maxBodyChars: number;

  constructor(
    private readonly deps: { store: Store; blobs: BlobStore },
    options: SearchIndexOptions = {},
  ) {
    this.#maxBodyChars = options.maxBodyChars ?? DEFAULT_MAX_BODY_CHARS;
  }

  /**
   * Rows for stored messages (the background indexer, or SORT/THREAD finding
   * some missing): their blobs are read and indexed, `concurrency` reads in
   * flight. A message whose blob can't be read is left out and reported in
   * `failed` (it stays unindexed and is scanned when searched); when every
   * read of the batch failed and no blob was missing (the blob store is
   * down) it throws instead. Returns how many rows were written.
   */
  async indexStored(
    messages: readonly MessageToIndex[],
    concurrency = 4,
    failed?: (m: MessageToIndex, err: Error) => void,
  ): Promise<number> {
    const rows: (SearchRow | undefined)[] = new Array(messages.length);
    const failures: [MessageToIndex, Error][] = [];
    let next = 0;
    const worker = async () => {
      while (next < messages.length) {
        const at = next++;
        const m = messages[at]!;
        let raw: Buffer;
        try {
          raw = await this.deps.blobs.read(m.blobKey, 0, Math.min(m.size, MAX_SEARCH_READ_BYTES));
        } catch (err) {
          failures.push([m, err as Error]);
          continue;
        }
        const index = indexMessageSync(raw);
        // indexMessageSync saw only the bytes read: the size is the stored message's
        const fields = searchFields({ ...index, size: m.size }, raw, this.#maxBodyChars);
        rows[at] = { mailboxId: m.mailboxId, uid: m.uid, ...fields };
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
    // every read failed, none for a missing blob: the blob store is down, not a message broken
    if (failures.length === messages.length && failures.every(([, e]) => !(e instanceof BlobNotFoundError)))
      throw failures[0]![1];
    for (const [m, err] of failures) failed?.(m, err);
    let written = 0;
    for (const generation of threadGenerations(messages, rows))
      written += await this.deps.store.search.write(generation);
    return written;
  }
}

/**
 * The rows in statements ("generations") such that a message referring to
 * another of the same batch (References/In-Reply-To, same account) is written
 * after it: THREADID assignment (libs/store search/rows.ts) finds a parent's
 * thread, or a reply's that came first, only among rows written before its
 * statement. Usually one generation; replies to each other in a batch add one
 * per level.
 */
function threadGenerations(
  messages: readonly MessageToIndex[],
  rows: readonly (SearchRow | undefined)[],
): SearchRow[][] {
  const byId = new Map<string, number>();
  messages.forEach((m, i) => {
    if (rows[i] && m.messageId && m.accountId !== undefined) byId.set(`${m.accountId} ${m.messageId}`, i);
  });
  const generation = new Array<number>(messages.length).fill(0);
  if (byId.size > 0) {
    // edges between two messages of the batch, from the earlier to the later
    const earlier: number[][] = messages.map(() => []);
    messages.forEach((m, i) => {
      const row = rows[i];
      if (!row || m.accountId === undefined) return;
      const parent = m.inReplyTo ? /<[^<>\s]+>/.exec(m.inReplyTo)?.[0] : undefined;
      for (const id of parent ? [...row.refs, parent] : row.refs) {
        const j = byId.get(`${m.accountId} ${id}`);
        if (j === undefined || j === i) continue;
        earlier[Math.max(i, j)]!.push(Math.min(i, j));
      }
    });
    for (let i = 0; i < messages.length; i++)
      for (const j of earlier[i]!)
        generation[i] = Math.min(MAX_GENERATIONS - 1, Math.max(generation[i]!, generation[j]! + 1));
  }
  const out: SearchRow[][] = Array.from({ length: Math.max(0, ...generation) + 1 }, () => []);
  rows.forEach((row, i) => {
    if (row) out[generation[i]!]!.push(row);
  });
  return out.filter((g) => g.length > 0);
}
