/**
 * Runs libs/delivery's SearchBackfill in an IMAP process (startImap): one
 * process of the cluster at a time (a libs/limits lease), throttled by
 * SEARCH_BACKFILL_BATCH / SEARCH_BACKFILL_PAUSE_MS, with its progress as
 * metrics: aerogram_search_backfill_remaining (messages without a search row)
 * and aerogram_search_backfill_indexed_total.
 */
import { SearchBackfill } from "@aerogram/delivery";
import { sharedCounter, sharedGauge } from "@aerogram/observability";
import type { Runtime } from "@aerogram/runtime";
import type { ServerContext } from "../context.ts";

const LEASE_KEY = "search-backfill";
const LEASE_MS = 60_000;

export function startSearchBackfill(runtime: Runtime, ctx: ServerContext): SearchBackfill {
  const remaining = sharedGauge(runtime.metrics, {
    name: "aerogram_search_backfill_remaining",
    help: "Messages without a search row yet (searched by reading their blob until the backfill reaches them)",
  });
  const indexed = sharedCounter(runtime.metrics, {
    name: "aerogram_search_backfill_indexed_total",
    help: "Messages given their search row by the backfill",
  });
  const limits = runtime.config.protocolLimits.search;
  const backfill = new SearchBackfill(
    { store: runtime.store, indexer: ctx.delivery.searchIndexer },
    {
      batch: limits.backfillBatch,
      pauseMs: limits.backfillPauseMs,
      acquireLease: () => runtime.limits.acquire(LEASE_KEY, LEASE_MS),
      onProgress: (left, done) => {
        remaining.set(left);
        if (done) indexed.inc(done);
      },
      onError: (err) => runtime.log.warn({ err }, "search backfill failed; retrying later"),
    },
  );
  backfill.start();
  return backfill;
}
