/**
 * The search repository (`store.search`): the full-text rows, SORT and THREAD
 * keys, and the backfill's queries (migration 010; README "Search").
 */
import type { Pool } from "../db.ts";
import {
  countMissing,
  missingAfter,
  type SearchRow,
  type UnindexedMessage,
  unindexedIn,
  writeSearchRows,
} from "./rows.ts";
import { type SortCriterion, sortUids, type ThreadKeys, threadKeys } from "./sort.ts";

export class SearchIndex {
  constructor(private readonly pool: Pool) {}

  /** Writes search rows (after the messages' commit) and assigns their THREADIDs. */
  write(rows: readonly SearchRow[]): Promise<number> {
    return writeSearchRows(this.pool, rows);
  }

  /** The mailbox's messages whose text must be read from the blob (no row, or text cut). */
  unindexed(mailboxId: number): Promise<UnindexedMessage[]> {
    return unindexedIn(this.pool, mailboxId);
  }

  /** The backfill's next batch after a (mailbox, uid) cursor. */
  missingAfter(after: { mailboxId: number; uid: number }, limit: number): Promise<UnindexedMessage[]> {
    return missingAfter(this.pool, after, limit);
  }

  countMissing(): Promise<number> {
    return countMissing(this.pool);
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

  /** Bytes of the search rows and their indexes, and of the messages they describe (the bench's ratio). */
  async sizes(): Promise<{ indexBytes: number; tableBytes: number }> {
    const { rows } = await this.pool.query<{ index_bytes: string; table_bytes: string }>(
      `SELECT pg_indexes_size('message_search')::text AS index_bytes,
              pg_table_size('message_search')::text AS table_bytes`,
    );
    return { indexBytes: Number(rows[0]!.index_bytes), tableBytes: Number(rows[0]!.table_bytes) };
  }
}
