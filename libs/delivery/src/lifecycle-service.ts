/**
 * `AEROGRAM_SERVICES=lifecycle` (part of `all`, as `npm start` runs): the
 * blob reclaimer, the retention worker and the background search indexer on
 * one runtime. Every replica may run it; the reclaimer shares its queue
 * through SKIP LOCKED, retention runs under a cluster-wide lease, the search
 * indexer under one lease per mailbox shard.
 */
import type { Runtime, ServiceHandle, ServiceStarter } from "@aerogram/runtime";
import { BlobReclaimer } from "./blob-reclaimer.ts";
import { LifecycleMetrics } from "./lifecycle-metrics.ts";
import { RetentionWorker } from "./retention.ts";
import { createSearchIndexWorker } from "./search-index-worker.ts";

export function createLifecycleWorkers(runtime: Runtime): {
  reclaimer: BlobReclaimer;
  retention: RetentionWorker;
} {
  const metrics = new LifecycleMetrics(runtime.metrics, runtime.store);
  const c = runtime.config.lifecycle;
  const log = runtime.log.child({ component: "lifecycle" });
  return {
    reclaimer: new BlobReclaimer({ store: runtime.store, blobs: runtime.blobs, metrics, log }, c.blobReclaim),
    retention: new RetentionWorker(
      { store: runtime.store, events: runtime.events, limits: runtime.limits, metrics, log },
      c.retention,
    ),
  };
}

export const startLifecycle: ServiceStarter = async (runtime): Promise<ServiceHandle> => {
  const { reclaimer, retention } = createLifecycleWorkers(runtime);
  const searchIndexer = createSearchIndexWorker(runtime);
  reclaimer.start();
  retention.start();
  searchIndexer.start();
  return {
    name: "lifecycle",
    endpoints: ["lifecycle blob reclaimer + retention + search indexer"],
    connections: () => 0,
    drain: async () => {
      await Promise.all([reclaimer.stop(), retention.stop(), searchIndexer.stop()]);
    },
  };
};
