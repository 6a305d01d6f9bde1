/**
 * Learning from users (issue 21): a message a user moves or copies into
 * \Junk is taught to rspamd as spam, one moved or copied out of \Junk into
 * another mailbox as ham. The IMAP command only queues (one call, never
 * throws, never waits for rspamd): rows in `spam_learn_outbox`, unique per
 * (account, message blob, kind), so each message is taught at most once per
 * class however often it is moved. SpamLearner drains the outbox in the
 * background (any replica; rows are claimed under a lease) and retries a
 * failed call a few times before giving up on it.
 */
import type { Readable } from "node:stream";
import type { BlobStore } from "@aerogram/blobstore";
import type { Counter, Logger, Registry } from "@aerogram/observability";
import { sharedCounter } from "@aerogram/observability";
import type { Store } from "@aerogram/store";
import type { RspamdClient } from "./rspamd.ts";

export interface JunkMove {
  accountId: number;
  fromMailboxId: number;
  toMailboxId: number;
  /** UIDs of the copies in the destination mailbox. */
  toUids: readonly number[];
}

/**
 * The IMAP COPY/MOVE hook: queues learning when the move crosses the \Junk
 * boundary. `enabled`: rspamd is configured (otherwise nothing is queued).
 * Resolves to the number of messages queued; never rejects.
 */
export async function queueJunkLearning(
  store: Store,
  enabled: boolean,
  move: JunkMove,
  log?: Logger,
): Promise<number> {
  if (!enabled || move.toUids.length === 0 || move.fromMailboxId === move.toMailboxId) return 0;
  try {
    const [from, to] = await Promise.all([
      store.filtering.specialUse(move.fromMailboxId),
      store.filtering.specialUse(move.toMailboxId),
    ]);
    const intoJunk = to === "\\Junk" && from !== "\\Junk";
    const outOfJunk = from === "\\Junk" && to !== "\\Junk" && to !== "\\Trash";
    if (!intoJunk && !outOfJunk) return 0;
    return await store.filtering.queueLearnFromMailbox(
      move.accountId,
      move.toMailboxId,
      move.toUids,
      intoJunk ? "spam" : "ham",
    );
  } catch (err) {
    log?.warn({ err }, "queueing spam learning failed");
    return 0;
  }
}

export interface SpamLearnerOptions {
  pollMs: number;
  /** How long a claimed row is hidden from other learners. */
  leaseMs: number;
  retryMs: number;
  maxAttempts: number;
  /** Messages above this are not sent (rspamd's own limit is 50 MB). */
  maxBytes: number;
  batch: number;
}

export const DEFAULT_LEARNER: SpamLearnerOptions = {
  pollMs: 5000,
  leaseMs: 120_000,
  retryMs: 5 * 60_000,
  maxAttempts: 5,
  maxBytes: 20 * 1024 * 1024,
  batch: 10,
};

async function readAll(stream: Readable, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > max) {
      stream.destroy();
      return undefined;
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export class SpamLearner {
  readonly #calls: Counter<"kind" | "result">;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly deps: {
      store: Store;
      blobs: BlobStore;
      rspamd: RspamdClient;
      log: Logger;
      metrics: Registry;
    },
    private readonly opts: SpamLearnerOptions = DEFAULT_LEARNER,
  ) {
    this.#calls = sharedCounter(deps.metrics, {
      name: "aerogram_spam_learn_total",
      help: "rspamd learnspam/learnham calls by kind and result (ok, failed, gave_up, too_large, missing)",
      labelNames: ["kind", "result"],
    });
  }

  start(): void {
    const tick = () => {
      if (this.#stopped) return;
      this.#running = this.runOnce()
        .then(() => undefined)
        .catch((err: unknown) => this.deps.log.warn({ err }, "spam learner pass failed"))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, this.opts.pollMs).unref();
        });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One pass over due rows; returns how many were handled. */
  async runOnce(): Promise<number> {
    const { store, blobs, rspamd } = this.deps;
    const jobs = await store.filtering.claimLearn(this.opts.batch, this.opts.leaseMs);
    for (const job of jobs) {
      let message: Buffer | undefined;
      try {
        message = await readAll(await blobs.get(job.blobKey), this.opts.maxBytes);
      } catch {
        this.#calls.inc({ kind: job.kind, result: "missing" });
        await store.filtering.learnFailed(job.id, "message blob not found", this.opts.retryMs, 0);
        continue;
      }
      if (!message) {
        this.#calls.inc({ kind: job.kind, result: "too_large" });
        await store.filtering.learnFailed(job.id, "message too large to learn", this.opts.retryMs, 0);
        continue;
      }
      const r = await rspamd.learn(job.kind, message);
      if (r.ok) {
        this.#calls.inc({ kind: job.kind, result: "ok" });
        await store.filtering.learnDone(job.id);
      } else {
        const gaveUp = job.attempts >= this.opts.maxAttempts;
        this.#calls.inc({ kind: job.kind, result: gaveUp ? "gave_up" : "failed" });
        this.deps.log.info({ kind: job.kind, reason: r.reason, detail: r.detail }, "rspamd learn failed");
        await store.filtering.learnFailed(
          job.id,
          `${r.reason}: ${r.detail}`,
          this.opts.retryMs,
          this.opts.maxAttempts,
        );
      }
    }
    return jobs.length;
  }
}
