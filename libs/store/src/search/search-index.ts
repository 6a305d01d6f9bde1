/**
 * The search repository (`store.search`): the full-text rows, SORT and THREAD
 * keys, and the background indexer's queries (migrations 010, 080; README "Search").
 */
import type { Pool } from "../db.ts";
import {
  backlog,
  type PendingMessage,
  pendingBatch,
  type SearchRow,
  type UnindexedMessage,
  unindexedIn,
  writeSearchRows,
} from "./rows.ts";
import { type SortCriterion, sortUids, type ThreadKeys, threadKeys } from "./sort.ts";

export class SearchIndex {
  constructor(private readonly pool: Pool) {}

  /** Writes search rows (the indexer, after the messages' commit) and assigns their THREADIDs. */
  write(rows: readonly SearchRow[]): Promise<number> {
    return writeSearchRows(this.pool, rows);
  }

  /** The mailbox's messages whose text must be read from the blob (no row, or text cut). */
  unindexed(mailboxId: number): Promise<UnindexedMessage[]> {
    return unindexedIn(this.pool, mailboxId);
  }

  /** The indexer's next batch of one shard (`mailbox_id % shards = shard`). */
  pending(shard: number, shards: number, limit: number): Promise<PendingMessage[]> {
    return pendingBatch(this.pool, shard, shards, limit);
  }

  /** Messages without a search row and the age of the oldest (the indexer's backlog and lag). */
  backlog(): Promise<{ messages: number; oldestSeconds: number }> {
    return backlog(this.pool);
  }

  sort(
    mailboxId: number,
    uids: readonly number[] | null,
    criteria: readonly SortCriterion[],
  ): Promise<number[]> {
    return sortUids(this.pool, mailboxId, uids, criteria);
  }

  threadKeys(mailboxId: number, uids: readonly number[] | null): Promise<ThreadKeys[]> {
    return threadKeys(this.pool, mailboxId, uids);
  }

  /**
   * Moves the GIN indexes' pending entries (fastupdate: inserts land in a
   * pending list, merged later by an insert or autovacuum) into the indexes
   * now: the rows' words and headers, and the vocabulary's trigrams. The
   * bench calls it so the merge's CPU is counted where it runs.
   */
  async flushPending(): Promise<void> {
    await this.pool.query(
      `SELECT gin_clean_pending_list(i.indexrelid::regclass) FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
        WHERE i.indrelid IN ('message_search'::regclass, 'search_vocabulary'::regclass) AND a.amname = 'gin'`,
    );
  }

  /**
   * Fresh planner statistics of the messages and their search rows. After a
   * bulk load (an import, a first backfill) autovacuum may take minutes to
   * get there, and until it does the planner sizes both tables from nothing:
   * THREADID's Message-ID lookups became sequential scans (45 s per batch of
   * 1000 at 100,000 messages) and SEARCH's LIKE skipped the trigram index.
   */
  async analyze(): Promise<void> {
    await this.pool.query("ANALYZE messages, message_search");
  }

  /** Bytes of the search rows and their indexes, and of the messages they describe (the bench's ratio). */
  async sizes(): Promise<{ indexBytes: number; tableBytes: number }> {
    const { rows } = await this.pool.query<{ index_bytes: string; table_bytes: string }>(
      `SELECT pg_indexes_size('message_search')::text AS index_bytes,
              pg_table_size('message_search')::text AS table_bytes`,
    );
    return { indexBytes: Number(rows[0]!.index_bytes), tableBytes: Number(rows[0]!.table_bytes) };
  }
}
