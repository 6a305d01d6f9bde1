/**
 * The blob reclaimer: deletes blobs whose last reference went, from the
 * reference queue (libs/store blobs/reclaim.ts, migration 030), never by
 * listing the bucket. Any number of replicas run one each: a batch is taken
 * with FOR UPDATE SKIP LOCKED, so two never take the same key, and the row
 * locks are held while the objects are deleted (a delivery referencing one of
 * them waits and then sees the tombstone: deliver.ts retries or fails
 * temporarily, never commits a row without its blob).
 *
 * The grace period protects deliveries in flight: a delivery stores its blob
 * before its transaction commits, so content that is released now may be
 * about to be referenced again. Entries are checked only `graceMs` after
 * their release; by then such a delivery has committed (its insert cancelled
 * the entry) or given up.
 */
import type { BlobStore } from "@aerogram/blobstore";
import type { ReclaimBatchResult, ReclaimCandidate, Store } from "@aerogram/store";
import type { LifecycleMetrics } from "./lifecycle-metrics.ts";
import { PeriodicTask } from "./periodic.ts";

export interface BlobReclaimerOptions {
  graceMs: number;
  /**
   * How long a tombstone is kept (default graceMs): a delivery that stored
   * the content before its deletion and commits later than this would not be
   * refused, so it must exceed the longest store-to-commit time, as graceMs does.
   */
  tombstoneMs?: number;
  intervalMs: number;
  batch: number;
  /** Parallel object deletions within a batch. */
  deleteConcurrency?: number;
}

export interface ReclaimTotals {
  deleted: number;
  bytes: number;
  kept: number;
  failed: number;
}

interface Log {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export class BlobReclaimer {
  readonly #periodic: PeriodicTask;
  readonly totals: ReclaimTotals = { deleted: 0, bytes: 0, kept: 0, failed: 0 };

  constructor(
    private readonly deps: {
      store: Pick<Store, "blobReclaim">;
      blobs: Pick<BlobStore, "delete">;
      metrics?: LifecycleMetrics;
      log?: Log;
    },
    private readonly opts: BlobReclaimerOptions,
  ) {
    this.#periodic = new PeriodicTask(
      () =>
        this.drain()
          .then((t) => {
            if (t.deleted > 0) this.deps.log?.info({ ...t }, "blobs reclaimed");
          })
          .catch((err) => this.deps.log?.warn({ err }, "blob reclaim run failed; retrying later")),
      opts.intervalMs,
    );
  }

  /** One batch; returns what it did. */
  async runBatch(): Promise<ReclaimBatchResult> {
    const result = await this.deps.store.blobReclaim.reclaimBatch(this.opts.graceMs, this.opts.batch, (c) =>
      this.#remove(c),
    );
    this.totals.deleted += result.deleted.length;
    this.totals.kept += result.referenced;
    this.totals.failed += result.failed;
    const bytes = result.deleted.reduce((n, d) => n + d.size, 0);
    this.totals.bytes += bytes;
    this.deps.metrics?.blobsDeleted.inc(result.deleted.length);
    this.deps.metrics?.bytesReclaimed.inc(bytes);
    this.deps.metrics?.blobsKept.inc(result.referenced);
    this.deps.metrics?.blobDeleteErrors.inc(result.failed);
    return result;
  }

  /** Batches until nothing is due (or a batch deletes nothing it took); then prunes old tombstones. */
  async drain(): Promise<ReclaimTotals> {
    const before = { ...this.totals };
    for (;;) {
      const r = await this.runBatch();
      if (r.claimed < this.opts.batch || r.deleted.length + r.referenced === 0) break;
    }
    await this.deps.store.blobReclaim.pruneTombstones(this.opts.tombstoneMs ?? this.opts.graceMs);
    return {
      deleted: this.totals.deleted - before.deleted,
      bytes: this.totals.bytes - before.bytes,
      kept: this.totals.kept - before.kept,
      failed: this.totals.failed - before.failed,
    };
  }

  async #remove(candidates: ReclaimCandidate[]): Promise<ReclaimCandidate[]> {
    const deleted: ReclaimCandidate[] = [];
    const queue = [...candidates];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        try {
          await this.deps.blobs.delete(c.key);
          deleted.push(c);
        } catch (err) {
          this.deps.log?.warn({ err, blob: c.key }, "blob delete failed; it stays pending");
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.opts.deleteConcurrency ?? 8, queue.length) }, worker),
    );
    return deleted;
  }

  start(): void {
    this.#periodic.start();
  }

  async stop(): Promise<void> {
    await this.#periodic.stop();
  }
}
