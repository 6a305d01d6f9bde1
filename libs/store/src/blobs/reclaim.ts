/**
 * Blob references without listing the bucket (migration 030). The release
 * side is written by triggers in the same transaction as every DELETE of a
 * referencing row; this repository is the other side: the reclaimer's batch,
 * the explicit release of a blob a delivery stored but did not use, the
 * tombstone a retrying delivery clears, and the figures for the metrics.
 */
import type { Pool } from "../db.ts";
import { withTransaction } from "../db.ts";

/** SQLSTATE raised by blob_refs_taken when a row would reference a reclaimed blob. */
export const BLOB_RECLAIMED_SQLSTATE = "AGB01";

/** A write referenced a blob the reclaimer deleted after the writer stored it: store it again and retry. */
export class BlobReclaimedError extends Error {
  constructor(readonly blobKey: string) {
    super(`blob ${blobKey} was reclaimed after it was stored`);
    this.name = "BlobReclaimedError";
  }
}

/** The store error as a BlobReclaimedError, or undefined when it is something else. */
export function asBlobReclaimed(err: unknown): BlobReclaimedError | undefined {
  if (err instanceof BlobReclaimedError) return err;
  const e = err as { code?: string; detail?: string } | null;
  if (e && e.code === BLOB_RECLAIMED_SQLSTATE) return new BlobReclaimedError(e.detail ?? "");
  return undefined;
}

export interface ReclaimCandidate {
  key: string;
  size: number;
}

export interface ReclaimBatchResult {
  /** Due entries taken. */
  claimed: number;
  /** Referenced again (a new delivery, a copy): dropped from the queue, blob kept. */
  referenced: number;
  /** Deleted from the blob store (now tombstones). */
  deleted: ReclaimCandidate[];
  /** Deletion failed (left pending for the next run). */
  failed: number;
}

export interface BlobQueueStats {
  pendingObjects: number;
  pendingBytes: number;
  tombstones: number;
}

export class BlobReclaim {
  constructor(private readonly pool: Pool) {}

  /**
   * Blobs a writer stored but no row took (a failed or deduplicated delivery):
   * queued like an expunge's, so the reclaimer deletes them a grace period
   * later unless something references them by then.
   */
  async release(blobs: readonly ReclaimCandidate[]): Promise<void> {
    if (blobs.length === 0) return;
    const sorted = [...blobs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await this.pool.query(
      `INSERT INTO blob_reclaim_queue (blob_key, size, released_at)
       SELECT k, s, now() FROM unnest($1::text[], $2::bigint[]) AS u(k, s)
       ON CONFLICT (blob_key) DO UPDATE
         SET released_at = greatest(blob_reclaim_queue.released_at, excluded.released_at), horizon = NULL
         WHERE blob_reclaim_queue.state = 'pending'`,
      [sorted.map((b) => b.key), sorted.map((b) => b.size)],
    );
  }

  /**
   * One reclaim batch in ONE transaction: takes up to `limit` entries released
   * more than `graceMs` ago and past their transaction horizon (FOR UPDATE SKIP LOCKED: replicas share the queue
   * and never take the same key), drops those referenced again, calls
   * `remove` for the rest WHILE the row locks are held (a writer referencing
   * one of them waits in blob_refs_taken and then sees the tombstone), and
   * turns what `remove` deleted into tombstones. A crash rolls everything
   * back: the entries come due again and deleting twice is harmless.
   */
  async reclaimBatch(
    graceMs: number,
    limit: number,
    remove: (candidates: ReclaimCandidate[]) => Promise<ReclaimCandidate[]>,
  ): Promise<ReclaimBatchResult> {
    // Stamp newly visible releases with the current transaction horizon (see
    // migration 030, `horizon`): an entry is due only once every transaction
    // that was running when its release became visible has ended.
    await this.pool.query(
      `UPDATE blob_reclaim_queue SET horizon = pg_snapshot_xmax(pg_current_snapshot())::text::bigint
        WHERE blob_key IN (SELECT blob_key FROM blob_reclaim_queue
                            WHERE state = 'pending' AND horizon IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED)`,
      [limit * 10],
    );
    return withTransaction(this.pool, async (tx) => {
      const due = await tx.query<{ blob_key: string; size: string }>(
        `SELECT blob_key, size FROM blob_reclaim_queue
          WHERE state = 'pending' AND released_at <= now() - make_interval(secs => $1::double precision / 1000)
            AND horizon <= pg_snapshot_xmin(pg_current_snapshot())::text::bigint
          ORDER BY released_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [graceMs, limit],
      );
      const result: ReclaimBatchResult = { claimed: due.rows.length, referenced: 0, deleted: [], failed: 0 };
      if (due.rows.length === 0) return result;
      const keys = due.rows.map((r) => r.blob_key);
      const refs = await tx.query<{ blob_key: string }>(
        `SELECT blob_key FROM messages WHERE blob_key = ANY($1::text[])
         UNION SELECT blob_key FROM outbound_queue WHERE blob_key = ANY($1::text[])`,
        [keys],
      );
      const referenced = new Set(refs.rows.map((r) => r.blob_key));
      result.referenced = referenced.size;
      if (referenced.size > 0)
        await tx.query("DELETE FROM blob_reclaim_queue WHERE blob_key = ANY($1::text[])", [[...referenced]]);
      const candidates = due.rows
        .filter((r) => !referenced.has(r.blob_key))
        .map((r) => ({ key: r.blob_key, size: Number(r.size) }));
      if (candidates.length === 0) return result;
      const deleted = await remove(candidates);
      result.deleted = deleted;
      result.failed = candidates.length - deleted.length;
      if (deleted.length > 0)
        await tx.query(
          `UPDATE blob_reclaim_queue SET state = 'deleted', deleted_at = now()
            WHERE blob_key = ANY($1::text[])`,
          [deleted.map((d) => d.key)],
        );
      return result;
    });
  }

  /**
   * Forgets tombstones older than `graceMs`: by then every delivery that
   * could have stored the content before its deletion has committed or given
   * up. Returns how many.
   */
  async pruneTombstones(graceMs: number, limit = 10_000): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM blob_reclaim_queue WHERE blob_key IN (
         SELECT blob_key FROM blob_reclaim_queue
          WHERE state = 'deleted' AND deleted_at <= now() - make_interval(secs => $1::double precision / 1000)
          LIMIT $2)`,
      [graceMs, limit],
    );
    return rowCount ?? 0;
  }

  /**
   * A writer that stored the content anew (a put that created the object)
   * after the reclaimer deleted it: removes the tombstone so rows can take
   * the blob again (the caller then checks the object still exists: a
   * reclaimer may have been deleting it meanwhile). Only a tombstone is
   * removed: a pending entry is cancelled by the writer's own insert.
   * Returns whether there was one.
   */
  async clearTombstone(key: string): Promise<boolean> {
    // FOR UPDATE waits for a reclaimer holding the entry and then reads what it
    // committed: a deletion in progress when the object was put is seen too.
    const { rowCount } = await this.pool.query(
      `WITH held AS (SELECT blob_key, state FROM blob_reclaim_queue WHERE blob_key = $1 FOR UPDATE)
       DELETE FROM blob_reclaim_queue q USING held
        WHERE q.blob_key = held.blob_key AND held.state = 'deleted'`,
      [key],
    );
    return (rowCount ?? 0) > 0;
  }

  /** What is waiting (pending deletion) and how many tombstones there are. */
  async stats(): Promise<BlobQueueStats> {
    const { rows } = await this.pool.query<{ pending: string; bytes: string; tombstones: string }>(
      `SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
              coalesce(sum(size) FILTER (WHERE state = 'pending'), 0) AS bytes,
              count(*) FILTER (WHERE state = 'deleted') AS tombstones
         FROM blob_reclaim_queue`,
    );
    const r = rows[0]!;
    return {
      pendingObjects: Number(r.pending),
      pendingBytes: Number(r.bytes),
      tombstones: Number(r.tombstones),
    };
  }

  /** The queue entry of one key (tests, mailctl). */
  async entry(key: string): Promise<{ state: "pending" | "deleted"; releasedAt: Date } | undefined> {
    const { rows } = await this.pool.query<{ state: "pending" | "deleted"; released_at: Date }>(
      "SELECT state, released_at FROM blob_reclaim_queue WHERE blob_key = $1",
      [key],
    );
    return rows[0] ? { state: rows[0].state, releasedAt: rows[0].released_at } : undefined;
  }

  /** The full-listing audit's resume point (mailctl gc). */
  async auditProgress(
    id: string,
  ): Promise<{ afterKey: string | null; scanned: number; deleted: number } | undefined> {
    const { rows } = await this.pool.query<{ after_key: string | null; scanned: string; deleted: string }>(
      "SELECT after_key, scanned, deleted FROM blob_audit_progress WHERE id = $1",
      [id],
    );
    const r = rows[0];
    return r ? { afterKey: r.after_key, scanned: Number(r.scanned), deleted: Number(r.deleted) } : undefined;
  }

  async saveAuditProgress(
    id: string,
    p: { afterKey: string | null; scanned: number; deleted: number },
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO blob_audit_progress (id, after_key, scanned, deleted, updated_at) VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (id) DO UPDATE SET after_key = $2, scanned = $3, deleted = $4, updated_at = now()`,
      [id, p.afterKey, p.scanned, p.deleted],
    );
  }

  async clearAuditProgress(id: string): Promise<void> {
    await this.pool.query("DELETE FROM blob_audit_progress WHERE id = $1", [id]);
  }
}
