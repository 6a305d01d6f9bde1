/**
 * The retention worker: expunges messages older than their mailbox's
 * retention period (libs/store retention/retention.ts says how the period is
 * chosen: account rule, domain default, global default). Any replica may run
 * it; one sweep at a time runs cluster-wide, under a lease in libs/limits
 * renewed after every step, and each step is bounded (a page of mailboxes,
 * at most `batch` messages each, one expunge transaction per mailbox).
 *
 * It expunges through the store's normal path (Messages.expunge: the expunge
 * log, the MODSEQ) and publishes the same event IMAP's EXPUNGE does, so
 * sessions see EXPUNGE/VANISHED as for any other client's expunge, and the
 * blobs are released to the reclaimer by the same transaction.
 */
import type { EventBus } from "@aerogram/events";
import type { Limiter } from "@aerogram/limits";
import type { RetentionDefault, Store } from "@aerogram/store";
import type { LifecycleMetrics } from "./lifecycle-metrics.ts";
import { PeriodicTask } from "./periodic.ts";

export interface RetentionOptions {
  defaults: readonly RetentionDefault[];
  intervalMs: number;
  /** Messages per mailbox per step. */
  batch: number;
  /** Mailboxes per step (default 100). */
  mailboxesPerStep?: number;
  /** Lease length; renewed after every step (default 60 s). */
  leaseMs?: number;
}

const LEASE_KEY = "lifecycle:retention";

interface Log {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export class RetentionWorker {
  readonly #periodic: PeriodicTask;

  constructor(
    private readonly deps: {
      store: Pick<Store, "retention" | "messages">;
      events: Pick<EventBus, "publish">;
      limits: Pick<Limiter, "acquire">;
      metrics?: LifecycleMetrics;
      log?: Log;
    },
    private readonly opts: RetentionOptions,
  ) {
    this.#periodic = new PeriodicTask(
      () =>
        this.sweep()
          .then((n) => {
            if (n) this.deps.log?.info({ expunged: n }, "retention sweep");
          })
          .catch((err) => this.deps.log?.warn({ err }, "retention sweep failed; retrying later")),
      opts.intervalMs,
    );
  }

  /**
   * One full sweep if this replica gets the lease (undefined when another
   * holds it). Returns the number of messages expunged.
   */
  async sweep(now?: Date): Promise<number | undefined> {
    const leaseMs = this.opts.leaseMs ?? 60_000;
    const lease = await this.deps.limits.acquire(LEASE_KEY, leaseMs);
    if (!lease) return undefined;
    let expunged = 0;
    try {
      let after = 0;
      for (;;) {
        const step = await this.deps.store.retention.due(
          this.opts.defaults,
          after,
          this.opts.mailboxesPerStep ?? 100,
          this.opts.batch,
          now,
        );
        for (const d of step.due) {
          const r = await this.deps.store.messages.expunge(d.mailboxId, d.uids);
          if (r.uids.length === 0) continue;
          expunged += r.uids.length;
          this.deps.metrics?.retentionExpunged.inc(r.uids.length);
          this.deps.events.publish({
            account: d.accountId,
            mailbox: d.mailboxId,
            kind: "expunge",
            modseq: String(r.modseq),
            uids: r.uids,
          });
        }
        // A mailbox with more than `batch` old messages is visited again by the next step.
        const full = step.due.find((d) => d.uids.length >= this.opts.batch);
        if (full) after = full.mailboxId - 1;
        else if (step.next === undefined) break;
        else after = step.next;
        // Lost the lease (a long stall): stop; whoever holds it now carries on.
        if (!(await lease.renew())) break;
      }
    } finally {
      await lease.release();
    }
    return expunged;
  }

  start(): void {
    this.#periodic.start();
  }

  async stop(): Promise<void> {
    await this.#periodic.stop();
  }
}
