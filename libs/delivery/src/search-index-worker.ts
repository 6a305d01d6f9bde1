/**
 * The background search indexer (issue 20; Dovecot's `indexer` does the same
 * job): delivery and APPEND acknowledge after blob + commit only, and this
 * worker gives their messages (and any older message without one) a search
 * row soon after, many per statement.
 *
 * - Work: messages with no THREADID (migration 080's partial index: the
 *   backlog, not the mailbox), oldest mailbox/UID first, `batch` at a time.
 * - Cluster: the mailboxes are split into `shards` (`mailbox_id % shards`);
 *   a shard is indexed under a libs/limits lease, so replicas running this
 *   never index the same message twice (a lease lost mid-batch, e.g. a
 *   paused process, can at worst redo one batch: the write is an upsert).
 * - Latency: while there is a backlog, batches follow each other with
 *   `pauseMs` in between (the throttle); when a pass finds nothing it looks
 *   again after `pollMs`, or at once when `wake()` is called (a delivery in
 *   the same process). A message's lag is at most about pollMs plus a batch.
 * - Resumable by construction: what is pending is whatever has no row, so a
 *   restart (or another replica taking a shard over) just continues.
 * - A big backlog (an import, the first backfill) is bracketed by ANALYZE:
 *   when a pass's first batch is full, and after a pass that wrote
 *   `ANALYZE_AFTER_ROWS` or more, so the planner knows the tables' sizes
 *   before autovacuum gets round to it (store search-index.ts `analyze`).
 * - A message whose blob can't be read is skipped for `retryFailedMs` (it
 *   stays scanned when searched); a batch whose blobs all fail (the blob
 *   store is down) is an error and the pass ends (retried next poll).
 */
import type { Lease } from "@aerogram/limits";
import { sharedCounter, sharedGauge } from "@aerogram/observability";
import type { Runtime } from "@aerogram/runtime";
import type { Store } from "@aerogram/store";
import { type MessageToIndex, SearchIndexer } from "./search-index.ts";

export interface SearchIndexWorkerOptions {
  /** Messages per batch (one blob-read round and one write statement or a few); 0 disables the worker. */
  batch: number;
  /** Pause between two batches while a backlog lasts (the throttle). */
  pauseMs: number;
  /** How long an idle worker waits before looking for new messages again. */
  pollMs: number;
  /** Mailbox shards, each indexed by one lease holder at a time. */
  shards: number;
  /** A shard's lease; undefined when another process holds it. Without it, every shard is this worker's. */
  acquireLease?: (key: string) => Promise<Pick<Lease, "renew" | "release"> | undefined>;
  /** Rows written by one batch (a counter). */
  onIndexed?: (rows: number) => void;
  onError?: (err: Error) => void;
  /** How long a message whose blob could not be read is left alone. */
  retryFailedMs?: number;
}

const LEASE_PREFIX = "search-index:";
const LEASE_MS = 60_000;
/** A pass that wrote this many rows changed the tables enough to ANALYZE them. */
const ANALYZE_AFTER_ROWS = 10_000;
/** At most one ANALYZE before a pass per this long (per process). */
const ANALYZE_BEFORE_EVERY_MS = 10 * 60_000;

export class SearchIndexWorker {
  #stopped = false;
  #wake: (() => void) | null = null;
  #woken = false;
  #running: Promise<void> | null = null;
  /** mailbox:uid → when to try again (blob unreadable). */
  readonly #failed = new Map<string, number>();
  #analyzedAt = Number.NEGATIVE_INFINITY;
  #passWritten = 0;

  constructor(
    private readonly deps: { store: Store; indexer: SearchIndexer },
    private readonly options: SearchIndexWorkerOptions,
  ) {}

  start(): void {
    if (this.options.batch <= 0 || this.#running) return;
    this.#stopped = false;
    this.#running = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#running;
    this.#running = null;
  }

  /** New messages were committed: look now instead of at the next poll. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /**
   * One pass: every shard whose lease this worker gets, batch after batch
   * until it has nothing pending. Returns how many rows it wrote (the loop,
   * tests, the bench's bulk load).
   */
  async runOnce(): Promise<number> {
    const shards = Math.max(1, this.options.shards);
    // a random first shard, so replicas starting together spread over the shards
    const first = Math.floor(Math.random() * shards);
    let total = 0;
    this.#passWritten = 0;
    for (let k = 0; k < shards && !this.#stopped; k++) {
      const shard = (first + k) % shards;
      const lease = this.options.acquireLease
        ? await this.options.acquireLease(`${LEASE_PREFIX}${shard}`)
        : undefined;
      if (this.options.acquireLease && !lease) continue;
      try {
        total += await this.#drainShard(shard, shards, lease);
      } finally {
        await lease?.release().catch(() => {});
      }
    }
    if (total >= ANALYZE_AFTER_ROWS) await this.#analyze();
    return total;
  }

  async #analyze(): Promise<void> {
    this.#analyzedAt = Date.now();
    await this.deps.store.search.analyze();
  }

  async #drainShard(shard: number, shards: number, lease: Pick<Lease, "renew"> | undefined): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.#stopped) return total;
      const now = Date.now();
      for (const [key, until] of this.#failed) if (until <= now) this.#failed.delete(key);
      const pending = await this.deps.store.search.pending(
        shard,
        shards,
        this.options.batch + this.#failed.size,
      );
      const batch = pending
        .filter((m) => !this.#failed.has(`${m.mailboxId}:${m.uid}`))
        .slice(0, this.options.batch);
      if (batch.length === 0) return total;
      // a full first batch: maybe a bulk load the planner has no statistics of yet
      if (
        this.#passWritten === 0 &&
        batch.length === this.options.batch &&
        Date.now() - this.#analyzedAt > ANALYZE_BEFORE_EVERY_MS
      )
        await this.#analyze();
      const written = await this.deps.indexer.indexStored(batch, 4, (m: MessageToIndex, err: Error) => {
        this.#failed.set(`${m.mailboxId}:${m.uid}`, Date.now() + (this.options.retryFailedMs ?? 10 * 60_000));
        this.options.onError?.(err);
      });
      total += written;
      this.#passWritten += written;
      this.options.onIndexed?.(written);
      if (batch.length < this.options.batch) return total;
      // the lease lost (expired while a batch ran long, and taken): its new holder goes on
      if (lease && !(await lease.renew())) return total;
      await this.#sleep(this.options.pauseMs, false);
    }
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      this.#woken = false;
      try {
        await this.runOnce();
      } catch (err) {
        this.options.onError?.(err as Error);
      }
      // woken while the pass ran: messages committed after it looked
      if (!this.#woken) await this.#sleep(this.options.pollMs, true);
    }
  }

  #sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.#stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref?.();
      // stop() always ends a sleep; wake() only the idle one
      this.#wake = wakeable ? done : () => (this.#stopped ? done() : undefined);
    });
  }
}

/**
 * The worker on a runtime (the lifecycle service, services/aerogram), with its
 * metrics: aerogram_search_index_backlog and aerogram_search_index_lag_seconds
 * (read from PostgreSQL when scraped, the same on every replica) and
 * aerogram_search_index_indexed_total.
 */
export function createSearchIndexWorker(runtime: Runtime): SearchIndexWorker {
  const limits = runtime.config.protocolLimits.search;
  const indexer = new SearchIndexer(
    { store: runtime.store, blobs: runtime.blobs },
    { maxBodyChars: limits.maxTextChars },
  );
  let last = { messages: 0, oldestSeconds: 0 };
  let reading: Promise<typeof last> | null = null;
  const read = () => {
    reading ??= runtime.store.search
      .backlog()
      .then((b) => (last = b))
      .catch(() => last) // PostgreSQL down: the last values; /readyz reports the outage
      .finally(() => {
        reading = null;
      });
    return reading;
  };
  sharedGauge(runtime.metrics, {
    name: "aerogram_search_index_backlog",
    help: "Messages without a search row yet (SEARCH reads their blob until the indexer reaches them)",
    async collect() {
      this.set((await read()).messages);
    },
  });
  sharedGauge(runtime.metrics, {
    name: "aerogram_search_index_lag_seconds",
    help: "How long the oldest message without a search row has waited (since it was stored)",
    async collect() {
      this.set((await read()).oldestSeconds);
    },
  });
  const indexed = sharedCounter(runtime.metrics, {
    name: "aerogram_search_index_indexed_total",
    help: "Search rows written by the background indexer",
  });
  const log = runtime.log.child({ component: "search-indexer" });
  return new SearchIndexWorker(
    { store: runtime.store, indexer },
    {
      batch: limits.indexBatch,
      pauseMs: limits.indexPauseMs,
      pollMs: limits.indexPollMs,
      shards: limits.indexShards,
      acquireLease: (key) => runtime.limits.acquire(key, LEASE_MS),
      onIndexed: (n) => {
        if (n) indexed.inc(n);
      },
      onError: (err) => log.warn({ err }, "search indexing failed; retrying later"),
    },
  );
}
