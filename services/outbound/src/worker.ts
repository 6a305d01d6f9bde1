/**
 * A queue worker: claims due entries (store.outbound.claim: FOR UPDATE SKIP
 * LOCKED under a lease), delivers each to its domain's hosts, and records
 * the outcome under its lease: delivered recipients done, refused ones
 * bounced, the rest retried on the schedule until the entry expires, then
 * bounced. The lease is renewed while an attempt runs; a worker that loses
 * it (paused, partitioned) aborts the attempt before the end of data and
 * leaves the entry to its new holder, so two live workers never both finish
 * a transaction for the same entry. A killed worker's entries come back when
 * its lease runs out (at-least-once: a kill between the remote's 250 and our
 * commit resends, as RFC 5321 §6.1 accepts).
 */
import { randomBytes } from "node:crypto";
import { hostname as osHostname } from "node:os";
import type { BlobStore } from "@aerogram/blobstore";
import type { Delivery } from "@aerogram/delivery";
import type { Logger } from "@aerogram/observability";
import type { OutboundEntry, Store } from "@aerogram/store";
import { bounce } from "./bounce.ts";
import { CompleteBatcher } from "./complete-batcher.ts";
import { type FailedRecipient, statusOf } from "./dsn.ts";
import { type NotifyWhat, originalRecipient, relayDsn, wants } from "./dsn-request.ts";
import { readMessage, streamMessage } from "./message-bytes.ts";
import type { OutboundMetrics } from "./metrics.ts";
import { type MtaSts, mxMatches } from "./mta-sts.ts";
import { type MxLookup, mailHosts } from "./mx.ts";
import { nextAttemptDelayMs } from "./retry-schedule.ts";
import { type RouteTable, routeFor } from "./routes.ts";
import { ConnectionCache, type TransferOutcome, type TransferTarget, transfer } from "./smtp-transfer.ts";

export interface WorkerOptions {
  /** Our name in EHLO and in DSNs. */
  hostname: string;
  routes: RouteTable;
  retryScheduleMs: readonly number[];
  concurrency: number;
  domainConcurrency: number;
  leaseMs: number;
  pollMs: number;
  /** RFC 5321 §4.5.3.2 timeouts: each command's reply (MAIL, RCPT, DATA), and the fallback for the others. */
  timeoutMs: number;
  connectTimeoutMs?: number;
  greetingTimeoutMs?: number;
  dataDoneTimeoutMs?: number;
  /**
   * Send a delay notice (RFC 3464 Action: delayed) once per recipient still
   * undelivered this long after submission; 0: never (OUTBOUND_DELAY_NOTICE_AFTER).
   */
  delayNoticeMs?: number;
  mx?: MxLookup;
  /** MTA-STS (RFC 8461) for MX deliveries; undefined: off. */
  mtaSts?: MtaSts;
  /** The port MX hosts are reached on (25; tests use their servers' ports). */
  mxPort?: number;
  /** Extra trusted CA certificates for verified TLS (tests; default: the system's). */
  tlsCa?: Buffer;
  /** Owner id in the lease (default: host, pid and a random part). */
  owner?: string;
}

export interface WorkerDeps {
  store: Store;
  blobs: BlobStore;
  delivery: Delivery;
  log: Logger;
  metrics: OutboundMetrics;
}

/** A freed slot (no backlog) triggers a claim no sooner than this after the previous one (at most OUTBOUND_POLL_MS). */
const CLAIM_COALESCE_MS = 100;

/** Messages up to this size are read into memory and sent pipelined; larger ones are streamed. */
const PIPELINED_MAX_BYTES = 1024 * 1024;

export type AttemptResult = "completed" | "rescheduled" | "lease_lost";

export class OutboundWorker {
  readonly owner: string;
  private running = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly perDomain = new Map<string, number>();
  /** Entries being processed here (never claimed again meanwhile, even with their lease run out). */
  private readonly active = new Set<number>();
  private wake: (() => void) | undefined;
  /** An attempt finished (its slot is free again), or rows were queued in this process. */
  private nudge: (() => void) | undefined;
  private stopListening: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private readonly connections: ConnectionCache;
  private readonly completer: CompleteBatcher;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly opts: WorkerOptions,
  ) {
    this.owner = opts.owner ?? `${osHostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.connections = new ConnectionCache(5000, Math.max(1, opts.domainConcurrency));
    this.completer = new CompleteBatcher(deps.store, this.owner);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // Rows queued by this process's submission: claim them without waiting for the poll.
    this.stopListening = this.deps.store.outbound.onEnqueued(() => this.nudge?.());
    this.loopDone = this.loop();
  }

  /** Stops claiming; waits up to graceMs for attempts under way (their leases expire if they outlive it). */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.stopListening?.();
    this.wake?.();
    await this.loopDone;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((r) => {
        timer = setTimeout(r, graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.connections.close();
  }

  /** Claims and processes due entries until none is left (tests, `mailctl queue run`); returns how many. */
  async drainDue(): Promise<number> {
    let n = 0;
    for (;;) {
      const claimed = await this.claim();
      if (claimed.length === 0) {
        // One-shot use: no idle connections left behind.
        if (!this.running) this.connections.close();
        return n;
      }
      await Promise.all(claimed.map((e) => this.process(e)));
      n += claimed.length;
    }
  }

  private async loop(): Promise<void> {
    // When the last claim came back full, more is due than the slots took:
    // every freed slot may refill at once. Otherwise (a trickle) a freed slot,
    // or rows queued by this process (store.outbound.onEnqueued), wake the
    // loop no sooner than CLAIM_COALESCE_MS after the last claim, so one
    // claim takes what arrived meanwhile: the bench counted 0.8 claim
    // statements per message when every finished entry woke a claim.
    let backlog = false;
    let lastClaimAt = 0;
    const coalesceMs = Math.min(this.opts.pollMs, CLAIM_COALESCE_MS);
    while (this.running) {
      let claimed: OutboundEntry[] = [];
      // Refill in bulk: claiming one entry per finished one costs a statement per
      // message under load; waiting until half the slots are free costs little.
      const refillAt = Math.max(
        0,
        this.opts.concurrency - Math.max(1, Math.floor(this.opts.concurrency / 2)),
      );
      if (this.inflight.size <= refillAt) {
        const limit = this.claimLimit();
        lastClaimAt = performance.now();
        try {
          claimed = await this.claim();
          backlog = claimed.length >= limit;
        } catch (err) {
          backlog = false;
          this.deps.log.warn({ err }, "outbound claim failed; retrying");
        }
      }
      for (const entry of claimed) {
        const p = this.process(entry).finally(() => {
          this.inflight.delete(p);
          this.nudge?.();
        });
        this.inflight.add(p);
      }
      // A full claim means more may be due: go on while slots are free.
      if (backlog && this.inflight.size <= refillAt) continue;
      await new Promise<void>((resolve) => {
        let timer = setTimeout(resolve, this.opts.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.nudge = () => {
          if (backlog) return this.wake?.();
          // A trickle: claim once the coalescing interval since the last claim is over.
          clearTimeout(timer);
          timer = setTimeout(resolve, Math.max(0, lastClaimAt + coalesceMs - performance.now()));
          this.nudge = undefined;
        };
      });
      this.wake = undefined;
      this.nudge = undefined;
    }
  }

  private claimLimit(): number {
    return Math.max(1, this.opts.concurrency - this.inflight.size);
  }

  private claim(): Promise<OutboundEntry[]> {
    const full = [...this.perDomain].filter(([, n]) => n >= this.opts.domainConcurrency).map(([d]) => d);
    return this.deps.store.outbound.claim({
      owner: this.owner,
      leaseMs: this.opts.leaseMs,
      limit: this.claimLimit(),
      perDomainLimit: this.opts.domainConcurrency,
      skipDomains: full,
      skipIds: [...this.active],
    });
  }

  /** One attempt at one entry; never throws (a failure leaves the entry to its lease's expiry). */
  async process(entry: OutboundEntry): Promise<void> {
    this.active.add(entry.id);
    this.perDomain.set(entry.domain, (this.perDomain.get(entry.domain) ?? 0) + 1);
    const started = performance.now();
    const abort = new AbortController();
    const heartbeat = setInterval(
      () => {
        this.deps.store.outbound.renew(entry.id, this.owner, this.opts.leaseMs).then(
          (held) => {
            if (!held) abort.abort();
          },
          () => {}, // Postgres unreachable: keep going; the completion is fenced anyway.
        );
      },
      Math.max(100, Math.floor(this.opts.leaseMs / 3)),
    );
    let result: AttemptResult | "error" = "error";
    try {
      result = await this.attempt(entry, abort.signal);
    } catch (err) {
      this.deps.log.warn({ err, entry: entry.id, domain: entry.domain }, "outbound attempt failed");
      try {
        const delay = nextAttemptDelayMs(this.opts.retryScheduleMs, entry.attempts);
        await this.deps.store.outbound.reschedule(
          entry.id,
          this.owner,
          entry.recipients,
          new Date(Date.now() + delay),
          `local error: ${(err as Error).message}`,
        );
      } catch {
        // The lease runs out and another worker retries.
      }
    } finally {
      this.active.delete(entry.id);
      clearInterval(heartbeat);
      const n = (this.perDomain.get(entry.domain) ?? 1) - 1;
      if (n <= 0) this.perDomain.delete(entry.domain);
      else this.perDomain.set(entry.domain, n);
      this.deps.metrics.attemptSeconds.observe({ result }, (performance.now() - started) / 1000);
    }
  }

  private async targets(domain: string): Promise<TransferTarget[] | string | { temp: string }> {
    const route = routeFor(this.opts.routes, domain);
    if (route) return [{ host: route.host, port: route.port, ...(route.auth ? { auth: route.auth } : {}) }];
    const mx = await mailHosts(domain, this.opts.mx);
    if (!mx.ok) return mx.permanent ? mx.reason : { temp: mx.reason };
    const port = this.opts.mxPort ?? 25;
    const ca = this.opts.tlsCa ? { ca: this.opts.tlsCa } : {};
    const policy = await this.opts.mtaSts?.policyFor(domain);
    if (policy?.mode === "enforce") {
      // RFC 8461 §4.1/§5: only MX hosts the policy names, only with a verified certificate.
      const allowed = mx.hosts.filter((host) => policy.mx.some((p) => mxMatches(p, host)));
      if (allowed.length === 0) return { temp: `MTA-STS: no MX of ${domain} matches its policy` };
      return allowed.map((host) => ({ host, port, requireVerifiedTls: true, ...ca }));
    }
    return mx.hosts.map((host) => ({ host, port, ...ca }));
  }

  private async attempt(entry: OutboundEntry, signal: AbortSignal): Promise<AttemptResult> {
    const hosts = await this.targets(entry.domain);
    let outcome: TransferOutcome | undefined;
    let lastError = "";
    let remoteMta: string | undefined;
    const relay = relayDsn(entry, entry.recipients);
    if (typeof hosts === "string") {
      outcome = { kind: "refused", permanent: true, code: 550, reply: `5.1.2 ${hosts}` };
    } else if (!Array.isArray(hosts)) {
      lastError = hosts.temp;
    } else {
      for (const target of hosts) {
        if (signal.aborted) break;
        const o = await transfer(
          target,
          {
            from: entry.sender,
            to: entry.recipients,
            size: entry.size,
            eightBit: entry.eightBit,
            ...(relay.dsn ? { dsn: relay.dsn } : {}),
          },
          {
            // The row's own copy (claimed with it) or the blob.
            stream: () => streamMessage(this.deps.blobs, entry),
            // Held whole for the pipelined path (one write of the dot-stuffed message).
            ...(entry.size <= PIPELINED_MAX_BYTES
              ? { buffer: () => readMessage(this.deps.blobs, entry) }
              : {}),
          },
          {
            hostname: this.opts.hostname,
            timeoutMs: this.opts.timeoutMs,
            ...(this.opts.connectTimeoutMs ? { connectTimeoutMs: this.opts.connectTimeoutMs } : {}),
            ...(this.opts.greetingTimeoutMs ? { greetingTimeoutMs: this.opts.greetingTimeoutMs } : {}),
            ...(this.opts.dataDoneTimeoutMs ? { dataDoneTimeoutMs: this.opts.dataDoneTimeoutMs } : {}),
            signal,
            cache: this.connections,
          },
        );
        remoteMta = target.host;
        if (o.kind === "done" || (o.kind === "refused" && o.permanent)) {
          outcome = o;
          break;
        }
        // 4xx for the whole message or no connection: RFC 5321 §5.1, try the next MX.
        lastError = o.kind === "refused" ? `${target.host}: ${o.reply}` : o.reason;
      }
    }
    if (signal.aborted) return "lease_lost";

    let delivered: string[] = [];
    let failed: FailedRecipient[] = [];
    let deferred: string[] = entry.recipients;
    if (outcome?.kind === "done") {
      delivered = outcome.delivered;
      failed = outcome.failed.map((f) => ({
        recipient: f.recipient,
        status: statusOf(f.code, f.reply),
        diagnostic: `smtp; ${f.reply}`,
        ...(remoteMta ? { remoteMta } : {}),
      }));
      deferred = outcome.deferred.map((f) => f.recipient);
      if (outcome.deferred.length) lastError = outcome.deferred[0]!.reply;
    } else if (outcome?.kind === "refused") {
      failed = entry.recipients.map((recipient) => ({
        recipient,
        status: statusOf(outcome.code, outcome.reply),
        diagnostic: `smtp; ${outcome.reply}`,
        ...(remoteMta ? { remoteMta } : {}),
      }));
      deferred = [];
    }
    this.count(entry.domain, "delivered", delivered.length);
    // From here the remote may hold the message: the outcome must be recorded,
    // or the lease runs out and the message is sent again.
    return await this.recordDurably(entry, signal, async (): Promise<AttemptResult> => {
      if (failed.length > 0) {
        this.count(entry.domain, "failed", failed.length);
        const asked = this.requested(entry, failed, "FAILURE");
        this.deps.metrics.bounces.inc({ outcome: await bounce(this.bounceDeps(), entry, asked, "rejected") });
      }
      // NOTIFY=SUCCESS: a next hop that offers DSN and got our NOTIFY reports delivery
      // itself (RFC 3461 §5.2.2); otherwise we report "relayed" (RFC 3464 §2.3.3).
      if (delivered.length > 0 && !(outcome?.kind === "done" && outcome.dsn && relay.notifyPassed)) {
        const asked = this.requested(
          entry,
          delivered.map((recipient) => ({
            recipient,
            action: "relayed" as const,
            status: "2.0.0",
            ...(remoteMta ? { remoteMta } : {}),
          })),
          "SUCCESS",
        );
        if (asked.length > 0) {
          const result = await bounce(this.bounceDeps(), entry, asked, "success");
          this.deps.metrics.notices.inc({ kind: "success", outcome: result });
        }
      }
      if (deferred.length === 0) {
        await this.completer.complete(entry.id);
        this.log(entry, delivered, failed.length, 0);
        return "completed";
      }
      const next = new Date(Date.now() + nextAttemptDelayMs(this.opts.retryScheduleMs, entry.attempts));
      if (next >= entry.expiresAt) {
        // RFC 5321 §4.5.4.1: give up; 4.4.7 "delivery time expired" (RFC 3463).
        const expired = deferred.map((recipient) => ({
          recipient,
          status: "4.4.7",
          diagnostic:
            `x-aerogram; gave up after ${entry.attempts} attempts: ${lastError || "no answer"}`.slice(0, 900),
        }));
        this.count(entry.domain, "expired", expired.length);
        const asked = this.requested(entry, expired, "FAILURE");
        this.deps.metrics.bounces.inc({ outcome: await bounce(this.bounceDeps(), entry, asked, "expired") });
        await this.completer.complete(entry.id);
        this.log(entry, delivered, failed.length, 0, "expired");
        return "completed";
      }
      this.count(entry.domain, "deferred", deferred.length);
      const notified = await this.delayNotice(entry, deferred, lastError);
      // The first delay notice is due before the next attempt: attempt (and notice) then.
      const noticeAt = this.delayNoticeAt(entry, deferred, notified);
      const when = noticeAt && noticeAt < next ? new Date(Math.max(Date.now(), noticeAt.getTime())) : next;
      await this.deps.store.outbound.reschedule(
        entry.id,
        this.owner,
        deferred,
        when,
        lastError || "deferred",
        notified,
      );
      this.log(entry, delivered, failed.length, deferred.length);
      return "rescheduled";
    });
  }

  /**
   * Runs the writes that record an attempt's outcome (bounces, notices, the
   * row's completion or rescheduling; each idempotent) until they succeed.
   * Postgres or the blob store being down right after a remote's 250 must
   * not turn into a resend when the lease runs out. Only a lease taken by
   * another worker (the heartbeat aborts) ends the retries: the entry is
   * theirs then.
   */
  private async recordDurably(
    entry: OutboundEntry,
    signal: AbortSignal,
    write: () => Promise<AttemptResult>,
  ): Promise<AttemptResult> {
    for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return await write();
      } catch (err) {
        if (signal.aborted) return "lease_lost";
        this.deps.log.warn({ err, entry: entry.id }, "recording the attempt's outcome failed; retrying");
        await new Promise((r) => setTimeout(r, delay));
        if (signal.aborted) return "lease_lost";
      }
    }
  }

  /** The recipients whose NOTIFY asks for `what`, with their ORCPT. */
  private requested(
    entry: OutboundEntry,
    list: readonly FailedRecipient[],
    what: NotifyWhat,
  ): FailedRecipient[] {
    return list
      .filter((f) => wants(entry, f.recipient, what))
      .map((f) => {
        const orcpt = originalRecipient(entry, f.recipient);
        return orcpt ? { ...f, originalRecipient: orcpt } : f;
      });
  }

  /** Deferred recipients that want a delay notice and have not had one. */
  private awaitingDelayNotice(entry: OutboundEntry, deferred: readonly string[]): string[] {
    if (!this.opts.delayNoticeMs) return [];
    const done = new Set(entry.delayNotified.map((r) => r.toLowerCase()));
    return deferred.filter((r) => !done.has(r.toLowerCase()) && wants(entry, r, "DELAY"));
  }

  /**
   * Sends the delay notice when the entry is old enough (RFC 3464 Action:
   * delayed, once per recipient); returns the recipients notified.
   */
  private async delayNotice(
    entry: OutboundEntry,
    deferred: readonly string[],
    lastError: string,
  ): Promise<string[]> {
    const due = this.awaitingDelayNotice(entry, deferred);
    if (due.length === 0 || Date.now() - entry.createdAt.getTime() < this.opts.delayNoticeMs!) return [];
    const code = /^\s*(\d{3})/.exec(lastError)?.[1];
    const status = code ? statusOf(Number(code), lastError) : "4.4.1";
    const list = this.requested(
      entry,
      due.map((recipient) => ({
        recipient,
        action: "delayed" as const,
        status: status.startsWith("4") ? status : "4.4.1",
        diagnostic: `x-aerogram; ${lastError || "no answer"}`.slice(0, 900),
      })),
      "DELAY",
    );
    const result = await bounce(this.bounceDeps(), entry, list, "delayed");
    this.deps.metrics.notices.inc({ kind: "delayed", outcome: result });
    return due;
  }

  /** When a delay notice will be due for recipients still waiting for one, if ever. */
  private delayNoticeAt(entry: OutboundEntry, deferred: readonly string[], notified: readonly string[]) {
    const waiting = this.awaitingDelayNotice(entry, deferred).filter((r) => !notified.includes(r));
    if (waiting.length === 0) return undefined;
    return new Date(entry.createdAt.getTime() + this.opts.delayNoticeMs!);
  }

  private bounceDeps() {
    return {
      store: this.deps.store,
      blobs: this.deps.blobs,
      delivery: this.deps.delivery,
      hostname: this.opts.hostname,
    };
  }

  private count(domain: string, result: string, n: number) {
    if (n === 0) return;
    this.deps.metrics.recipients.inc({ result }, n);
    this.deps.metrics.domainRecipients.inc({ domain, result }, n);
  }

  private log(entry: OutboundEntry, delivered: string[], failed: number, deferred: number, note?: string) {
    this.deps.log.info(
      {
        entry: entry.id,
        messageId: entry.messageId,
        domain: entry.domain,
        attempt: entry.attempts,
        delivered: delivered.length,
        failed,
        deferred,
        ...(note ? { note } : {}),
      },
      "outbound attempt",
    );
  }
}
