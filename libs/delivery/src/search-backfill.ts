/**
 * The search index's backfill: messages stored before migration 010 (or whose
 * row's write failed after their commit) get their search rows in the
 * background, in (mailbox, uid) order, one batch at a time with a pause in
 * between (the throttle). Resumable by construction: each batch asks for the
 * next messages WITHOUT a row after a cursor, so a restart (or another
 * process taking over) only redoes what is missing; a row written twice is an
 * upsert. One process of the cluster runs it at a time (a lease from
 * libs/limits, renewed every batch). Until a message has its row, SEARCH
 * reads its blob and SORT/THREAD index it on the spot, so nothing waits for
 * the backfill to be right; it only makes those answers cheaper.
 */
import type { Store } from "@aerogram/store";
import type { SearchIndexer } from "./search-index.ts";

export interface SearchBackfillOptions {
  /** Messages per batch; 0 disables the backfill. */
  batch: number;
  pauseMs: number;
  /** When every message had a row: how long until it looks again (rows lost after a crash). */
  idleMs?: number;
  /** One holder cluster-wide; undefined when another process holds it (try again later). */
  acquireLease?: () => Promise<{ renew(): Promise<boolean>; release(): Promise<void> } | undefined>;
  /** Progress: messages still without a row (a gauge), and how many were just indexed (a counter). */
  onProgress?: (remaining: number, indexed: number) => void;
  onError?: (err: Error) => void;
}

export class SearchBackfill {
  #stopped = false;
  #wake: (() => void) | null = null;
  #running: Promise<void> | null = null;
  #lease: { renew(): Promise<boolean>; release(): Promise<void> } | null = null;

  constructor(
    private readonly deps: { store: Store; indexer: SearchIndexer },
    private readonly options: SearchBackfillOptions,
  ) {}

  start(): void {
    if (this.options.batch <= 0 || this.#running) return;
    this.#running = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#running;
  }

  /** One pass over everything missing; returns how many rows it wrote (tests and the loop). */
  async runOnce(): Promise<number> {
    let cursor = { mailboxId: 0, uid: 0 };
    let total = 0;
    // counted once per pass (a count over the whole table), then kept by subtraction
    let remaining = await this.deps.store.search.countMissing();
    for (;;) {
      if (this.#stopped) return total;
      const batch = await this.deps.store.search.missingAfter(cursor, this.options.batch);
      if (batch.length === 0) break;
      const written = await this.deps.indexer.indexStored(batch);
      total += written;
      remaining = Math.max(0, remaining - written);
      const last = batch[batch.length - 1]!;
      cursor = { mailboxId: last.mailboxId, uid: last.uid };
      this.options.onProgress?.(remaining, written);
      // the lease lost (expired while a batch ran long, and taken): the new holder goes on
      if (this.#lease && !(await this.#lease.renew())) return total;
      await this.#sleep(this.options.pauseMs);
    }
    this.options.onProgress?.(await this.deps.store.search.countMissing(), 0);
    return total;
  }

  async #loop(): Promise<void> {
    const idle = this.options.idleMs ?? 10 * 60_000;
    while (!this.#stopped) {
      try {
        const lease = this.options.acquireLease ? await this.options.acquireLease() : null;
        if (lease || !this.options.acquireLease) {
          this.#lease = lease ?? null;
          try {
            await this.runOnce();
          } finally {
            this.#lease = null;
            await lease?.release().catch(() => {});
          }
        }
      } catch (err) {
        this.options.onError?.(err as Error);
      }
      await this.#sleep(idle);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done() {
        resolve();
      }
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
