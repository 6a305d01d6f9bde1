/**
 * The SMTP-in service: listeners, per-session state and the handlers that tie
 * the protocol (smtp-server + protocol-connection.ts) to our policy, limits,
 * delivery and metrics; and the graceful drain.
 */
import { performance } from "node:perf_hooks";
import { DEFAULT_GROUP_COMMIT, Delivery, type FilteredDelivery, SieveFilter } from "@aerogram/delivery";
import type { Logger } from "@aerogram/observability";
import { type Runtime, runtimeTls, type ServiceHandle } from "@aerogram/runtime";
import {
  endpointFromConfig,
  localError,
  runDataTransaction,
  SmtpDeadlines,
  SmtpListeners,
  SmtpReply,
} from "@aerogram/smtp";
import { SpamLearner } from "@aerogram/spam";
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import { AuthVerdictCache } from "./auth-results.ts";
import { deliverMessage } from "./deliver-message.ts";
import { createCachedResolver, type DnsLookup } from "./dns-resolver.ts";
import type { FilterVerdict } from "./inbound-filter.ts";
import { SmtpMetrics } from "./metrics.ts";
import { createSmtpServer } from "./mx-server.ts";
import {
  DEFAULT_OPTIONS,
  filterOptionsFromConfig,
  optionsFromLimits,
  type SmtpInOptions,
} from "./options.ts";
import { type ConnectionHold, RateLimits } from "./rate-limits.ts";
import { type Recipient, RecipientPolicy } from "./recipient-policy.ts";

interface SessionState {
  ip: string;
  /** This connection's place in the per-IP limit (and its first message's token), once counted. */
  connectionSlot: ConnectionHold | undefined;
  declaredSize: number;
  recipients: Recipient[];
  transactions: number;
}

type Callback = (err?: Error | null) => void;

const SHUTTING_DOWN = () => new SmtpReply(421, "4.3.2", "Service shutting down, try again later", "draining");

export function optionsFromRuntime(runtime: Runtime, overrides: Partial<SmtpInOptions> = {}): SmtpInOptions {
  const c = runtime.config;
  return {
    ...DEFAULT_OPTIONS,
    ...optionsFromLimits(c.protocolLimits.smtp),
    port: c.ports.smtp,
    securePort: c.ports.smtps,
    ...endpointFromConfig(c, runtimeTls(runtime)),
    resolver: undefined,
    filter: filterOptionsFromConfig(c.filtering),
    ...overrides,
  };
}

export class SmtpInService {
  private readonly log: Logger;
  private readonly metrics: SmtpMetrics;
  private readonly limits: RateLimits;
  private readonly policy: RecipientPolicy;
  private readonly delivery: Delivery;
  private readonly resolver: DnsLookup;
  private readonly authCache: AuthVerdictCache | undefined;
  private readonly deadlines: SmtpDeadlines;
  private readonly sessions = new Map<string, SessionState>();
  private readonly listeners: SmtpListeners;
  private draining = false;
  private pruneTimer: NodeJS.Timeout | undefined;
  /** Teaches rspamd what users move into or out of Junk (libs/spam learn.ts); only with rspamd. */
  private learner: SpamLearner | undefined;

  /** The per-recipient Sieve step (libs/delivery sieve-filter.ts). */
  private readonly filtered: FilteredDelivery;

  constructor(
    private readonly runtime: Runtime,
    private readonly opts: SmtpInOptions,
  ) {
    const sieve = runtime.config.filtering.sieve;
    this.filtered = new SieveFilter(
      {
        store: runtime.store,
        blobs: runtime.blobs,
        log: runtime.log.child({ component: "sieve" }),
        metrics: runtime.metrics,
      },
      {
        hostname: opts.hostname,
        maxActions: sieve.maxActions,
        maxRedirects: sieve.maxRedirects,
        queueMaxAgeMs: runtime.config.outbound.maxAgeMs,
      },
    );
    this.log = runtime.log.child({ component: "smtp-in" });
    this.metrics = new SmtpMetrics(runtime.metrics);
    this.limits = new RateLimits(runtime.limits, opts.rateLimits, this.log);
    this.policy = new RecipientPolicy(
      runtime.store,
      this.limits,
      runtime.config.identity.recipientDelimiter,
      opts.recipientCacheMs,
    );
    this.delivery = new Delivery(
      { store: runtime.store, blobs: runtime.blobs, events: runtime.events },
      {
        groupCommit: opts.groupCommit ?? DEFAULT_GROUP_COMMIT,
      },
    );
    this.resolver = opts.resolver ?? createCachedResolver();
    this.authCache = opts.authCacheMs > 0 ? new AuthVerdictCache({ ttlMs: opts.authCacheMs }) : undefined;
    this.deadlines = new SmtpDeadlines(opts.deadlines);
    this.listeners = new SmtpListeners(opts, this.log, "smtp");
  }

  async start(): Promise<ServiceHandle> {
    const endpoints: string[] = [];
    const listen = async (port: number, secure: boolean) => {
      const server = createSmtpServer(
        {
          hostname: this.opts.hostname,
          secure,
          tls: this.opts.tls,
          maxMessageBytes: this.opts.maxMessageBytes,
          maxRecipients: this.opts.maxRecipients,
          socketTimeoutMs: this.opts.socketTimeoutMs,
          deadlines: this.deadlines,
          onLimit: (limit) => this.metrics.limitRefusals.inc({ limit }),
          greetingDelayMs: this.opts.greetingDelayMs,
          reverse: async (ip) => (await this.resolver(reverseName(ip), "PTR")) as string[],
        },
        {
          onConnect: (session, cb) => void this.onConnect(session, cb),
          onMailFrom: (address, session, cb) => void this.onMailFrom(address, session, cb),
          onRcptTo: (address, session, cb) => void this.onRcptTo(address, session, cb),
          onData: (stream, session, cb) => void this.onData(stream, session, cb),
          onClose: (session) => void this.onClose(session),
        },
      );
      const addr = await this.listeners.listen(server, port, secure);
      endpoints.push(`${secure ? "smtps" : "smtp"} ${addr.address}:${addr.port}`);
    };
    await listen(this.opts.port, false);
    if (this.opts.securePort !== undefined && this.opts.tls) await listen(this.opts.securePort, true);
    if (this.opts.filter.rspamd) {
      this.learner = new SpamLearner({
        store: this.runtime.store,
        blobs: this.runtime.blobs,
        rspamd: this.opts.filter.rspamd,
        log: this.log.child({ component: "spam-learner" }),
        metrics: this.runtime.metrics,
      });
      this.learner.start();
    }
    this.pruneTimer = setInterval(() => void this.pruneDedupeKeys(), 3600_000);
    this.pruneTimer.unref();
    this.log.info({ endpoints }, "smtp-in listening");
    return {
      name: "smtp-in",
      endpoints,
      connections: () => this.listeners.connections(),
      drain: (graceMs) => this.drain(graceMs),
    };
  }

  /** The bound ports, in start order (plain first). */
  ports(): number[] {
    return this.listeners.ports();
  }

  private async pruneDedupeKeys() {
    try {
      await this.runtime.store.messages.pruneDedupeKeys(this.opts.dedupeWindowSeconds);
    } catch (err) {
      this.log.warn({ err }, "pruning dedupe keys failed");
    }
  }

  private async onConnect(session: SMTPServerSession, cb: Callback) {
    const state: SessionState = {
      ip: session.remoteAddress,
      connectionSlot: undefined,
      declaredSize: 0,
      recipients: [],
      transactions: 0,
    };
    this.sessions.set(session.id, state);
    if (this.draining) {
      this.metrics.connections.inc({ result: "draining" });
      return cb(SHUTTING_DOWN());
    }
    const slot = await this.limits.connectionOpened(state.ip);
    if (!slot) {
      this.metrics.connections.inc({ result: "rate_limited" });
      this.metrics.limitRefusals.inc({ limit: "connections_per_ip" });
      return cb(new SmtpReply(421, "4.7.0", "Too many connections from your address, try again later"));
    }
    if (this.sessions.get(session.id) !== state) {
      // The client left while we were counting it (onClose has run): a slot kept now
      // would be renewed by this process's heartbeat for as long as it lives.
      await this.limits.connectionClosed(slot);
      return cb(localError());
    }
    state.connectionSlot = slot;
    this.metrics.connections.inc({ result: "accepted" });
    this.metrics.openConnections.inc();
    cb();
  }

  private async onClose(session: SMTPServerSession) {
    const state = this.sessions.get(session.id);
    this.sessions.delete(session.id);
    if (state?.connectionSlot) {
      this.metrics.openConnections.dec();
      await this.limits.connectionClosed(state.connectionSlot);
    }
  }

  private async onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, cb: Callback) {
    const state = this.sessions.get(session.id);
    if (!state) return cb(localError());
    if (this.draining) return cb(SHUTTING_DOWN());
    state.recipients = [];
    const size = address.args && typeof address.args.SIZE === "string" ? Number(address.args.SIZE) : 0;
    state.declaredSize = Number.isFinite(size) ? size : 0;
    if (!(await this.limits.messageFromIp(state.ip, state.connectionSlot))) {
      this.metrics.transactions.inc({ result: "rate_limited" });
      this.metrics.limitRefusals.inc({ limit: "messages_per_ip" });
      return cb(new SmtpReply(451, "4.7.1", "Too many messages from your address, try again later"));
    }
    cb();
  }

  /** Forwarding addresses: one outbound queue row per target domain (services/outbound delivers). */
  private async forward(
    blob: { key: string; size: number; messageId: string | null },
    sender: string,
    to: string[],
  ): Promise<void> {
    const byDomain = new Map<string, string[]>();
    for (const address of to) {
      const domain = address.slice(address.lastIndexOf("@") + 1);
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), address]);
    }
    await this.runtime.store.outbound.enqueue({
      blobKey: blob.key,
      size: blob.size,
      sender,
      senderAccountId: null,
      messageId: blob.messageId,
      byDomain,
      expiresAt: new Date(Date.now() + this.runtime.config.outbound.maxAgeMs),
    });
  }

  private async onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, cb: Callback) {
    const state = this.sessions.get(session.id);
    if (!state) return cb(localError());
    const verdict = await this.policy.check(address.address, state.declaredSize);
    if (verdict instanceof SmtpReply) {
      const result = verdict.responseCode >= 500 ? "rejected" : "deferred";
      this.metrics.recipients.inc({ result, reason: verdict.reason });
      if (verdict.reason === "rate_limited")
        this.metrics.limitRefusals.inc({ limit: "messages_per_recipient" });
      return cb(verdict);
    }
    this.metrics.recipients.inc({ result: "accepted", reason: "ok" });
    if (!state.recipients.some((r) => r.address === verdict.address)) state.recipients.push(verdict);
    cb();
  }

  private async onData(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    cb: (err?: Error | null, message?: string) => void,
  ) {
    const state = this.sessions.get(session.id);
    const report = {
      log: this.log,
      session: session.id,
      count: (result: "aborted" | "failed") => this.metrics.transactions.inc({ result }),
      failedMessage: "delivery failed; the sender will retry",
    };
    await runDataTransaction(stream, this.opts.spoolMemoryBytes, cb, report, async (spooled) => {
      const dataEnd = performance.now();
      this.metrics.receivedBytes.inc(spooled.size);
      if (!state || state.recipients.length === 0) return cb(localError());
      if (stream.sizeExceeded) {
        this.metrics.transactions.inc({ result: "rejected" });
        return cb(new SmtpReply(552, "5.3.4", "Message exceeds fixed maximum message size"));
      }
      if (this.opts.maxLineOctets > 0 && spooled.longestLine > this.opts.maxLineOctets) {
        this.metrics.transactions.inc({ result: "rejected" });
        this.metrics.limitRefusals.inc({ limit: "line_length" });
        return cb(new SmtpReply(500, "5.5.2", `Line too long (over ${this.opts.maxLineOctets} octets)`));
      }
      state.transactions++;
      const transactionId = `${session.id}.${state.transactions}`;
      const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
      const outcome = await deliverMessage(
        {
          delivery: this.delivery,
          hostname: this.opts.hostname,
          resolver: this.resolver,
          authTimeBoxMs: this.opts.authTimeBoxMs,
          authCache: this.authCache,
          dedupeWindowSeconds: this.opts.dedupeWindowSeconds,
          store: this.runtime.store,
          filter: this.opts.filter,
          filtered: this.filtered,
          bufferBytes: this.opts.spoolMemoryBytes,
          forward: (blob, from, to) => this.forward(blob, from, to),
        },
        spooled,
        { sender, recipients: state.recipients },
        {
          ip: state.ip,
          helo: session.hostNameAppearsAs || "unknown",
          clientHostname: session.clientHostname,
          protocol: session.transmissionType || "ESMTP",
        },
        transactionId,
      );
      for (const [method, result] of Object.entries({
        spf: outcome.auth.spf,
        dkim: outcome.auth.dkim,
        dmarc: outcome.auth.dmarc,
        arc: outcome.auth.arc,
      })) {
        this.metrics.authVerdicts.inc({ method, result });
      }
      this.countVerdict(outcome.verdict);
      if (outcome.refused) {
        const d = outcome.decision;
        this.metrics.transactions.inc({ result: d.kind === "reject" ? "rejected" : "deferred" });
        this.log.info(
          { session: session.id, id: transactionId, reason: d.reason, recipients: state.recipients.length },
          "message refused by the content filter",
        );
        return cb(new SmtpReply(d.code, d.enhanced, d.text, d.reason));
      }
      for (const r of state.recipients) this.policy.delivered(r.address);
      for (const placement of outcome.placements) this.metrics.placements.inc({ mailbox: placement });
      for (const err of outcome.sideEffectErrors) {
        this.log.warn(
          { err, session: session.id, id: transactionId },
          "a filter's side effect failed after delivery",
        );
      }
      this.metrics.transactions.inc({ result: outcome.duplicate ? "duplicate" : "delivered" });
      this.metrics.deliverySeconds.observe((performance.now() - dataEnd) / 1000);
      this.log.info(
        {
          session: session.id,
          id: transactionId,
          blob: outcome.blobKey,
          recipients: state.recipients.length,
          size: spooled.size,
          duplicate: outcome.duplicate,
        },
        "message delivered",
      );
      cb(
        null,
        outcome.duplicate ? `2.0.0 OK already delivered ${transactionId}` : `2.0.0 OK ${transactionId}`,
      );
    });
  }

  private countVerdict(v: FilterVerdict) {
    if (this.opts.filter.rspamd) {
      const action = v.skipped
        ? `unscanned_${v.skipped}`
        : v.check?.ok
          ? v.check.verdict.action
          : `unscanned_${v.check?.reason ?? "off"}`;
      this.metrics.spamVerdicts.inc({ action: action.replace(/ /g, "_") });
    }
    if (v.dmarc.reason !== "dmarc_ok" && v.dmarc.reason !== "dmarc_off") {
      this.metrics.dmarcActions.inc({ action: v.dmarc.reason.replace(/^dmarc_/, "") });
    }
  }

  /**
   * Stops accepting connections, answers 421 to sessions between transactions
   * (and to any new MAIL FROM), lets transactions under way finish, and after
   * graceMs closes whatever is left with 421.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    clearInterval(this.pruneTimer);
    await this.learner?.stop();
    await this.listeners.drain(graceMs);
    this.deadlines.close();
    this.limits.close();
  }
}

/** The PTR query name of an IPv4 or IPv6 address. */
export function reverseName(ip: string): string {
  if (ip.includes(".") && !ip.includes(":")) return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4mapped) return reverseName(v4mapped[1]!);
  const parts = ip.split("::");
  const head = parts[0] ? parts[0].split(":") : [];
  const tail = parts[1] ? parts[1].split(":") : [];
  const groups = [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail];
  const nibbles = groups.map((g) => g.padStart(4, "0")).join("");
  return `${[...nibbles].reverse().join(".")}.ip6.arpa`;
}
