/**
 * Metrics of the blob reclaimer and the retention worker. The pending figures
 * are read from the shared queue when scraped, so every replica reports the
 * same numbers.
 */
import { type Counter, type Registry, sharedCounter, sharedGauge } from "@aerogram/observability";
import type { Store } from "@aerogram/store";

export class LifecycleMetrics {
  /** Blob objects deleted by the reclaimer. */
  readonly blobsDeleted: Counter;
  /** Octets those objects held. */
  readonly bytesReclaimed: Counter;
  /** Queue entries found referenced again (kept). */
  readonly blobsKept: Counter;
  /** Object deletions that failed (retried on a later run). */
  readonly blobDeleteErrors: Counter;
  /** Messages expunged by retention. */
  readonly retentionExpunged: Counter;

  constructor(registry: Registry, store: Pick<Store, "blobReclaim">) {
    this.blobsDeleted = sharedCounter(registry, {
      name: "aerogram_blob_reclaim_deleted_total",
      help: "Blob objects deleted because their last reference went (no bucket listing)",
    });
    this.bytesReclaimed = sharedCounter(registry, {
      name: "aerogram_blob_reclaim_bytes_total",
      help: "Octets reclaimed by deleting unreferenced blobs",
    });
    this.blobsKept = sharedCounter(registry, {
      name: "aerogram_blob_reclaim_kept_total",
      help: "Released blobs found referenced again at their check (shared content, copies) and kept",
    });
    this.blobDeleteErrors = sharedCounter(registry, {
      name: "aerogram_blob_reclaim_errors_total",
      help: "Blob deletions that failed and stay pending",
    });
    this.retentionExpunged = sharedCounter(registry, {
      name: "aerogram_retention_expunged_total",
      help: "Messages expunged by retention rules",
    });
    let last = { pendingObjects: 0, pendingBytes: 0 };
    const read = async () => {
      try {
        last = await store.blobReclaim.stats();
      } catch {
        // Postgres down: the scrape shows the last values; /readyz reports the outage.
      }
      return last;
    };
    sharedGauge(registry, {
      name: "aerogram_blob_reclaim_pending_objects",
      help: "Blobs waiting for deletion (released, within the grace period or not yet reclaimed)",
      async collect() {
        this.set((await read()).pendingObjects);
      },
    });
    sharedGauge(registry, {
      name: "aerogram_blob_reclaim_pending_bytes",
      help: "Octets of the blobs waiting for deletion",
      async collect() {
        this.set((await read()).pendingBytes);
      },
    });
  }
}
