/**
 * The SMTP-in service: listeners, per-session state and the handlers that tie
 * the protocol (smtp-server + protocol-connection.ts) to our policy, limits,
 * delivery and metrics; and the graceful drain.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { createSecureContext } from "node:tls";
import { DEFAULT_GROUP_COMMIT, Delivery } from "@aerogram/delivery";
import type { Slot } from "@aerogram/limits";
import { Listener } from "@aerogram/net";
import type { Logger } from "@aerogram/observability";
import type { Runtime, ServiceHandle } from "@aerogram/runtime";
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import { SmtpDeadlines } from "./deadlines.ts";
import { deliverMessage } from "./deliver-message.ts";
import { createCachedResolver, type DnsLookup } from "./dns-resolver.ts";
import { spoolMessage } from "./message-spool.ts";
import { SmtpMetrics } from "./metrics.ts";
import { DEFAULT_OPTIONS, type SmtpInOptions } from "./options.ts";
import { RateLimits } from "./rate-limits.ts";
import { type AcceptedRecipient, RecipientPolicy } from "./recipient-policy.ts";
import { localError, SmtpReply } from "./smtp-errors.ts";
import { type AerogramSmtpServer, createSmtpServer } from "./smtp-server-wiring.ts";

interface SessionState {
  ip: string;
  /** This connection's place in the per-IP limit, once counted. */
  connectionSlot: Slot | undefined;
  declaredSize: number;
  recipients: AcceptedRecipient[];
  transactions: number;
}

type Callback = (err?: Error | null) => void;

const SHUTTING_DOWN = () => new SmtpReply(421, "4.3.2", "Service shutting down, try again later", "draining");

export function optionsFromRuntime(runtime: Runtime, overrides: Partial<SmtpInOptions> = {}): SmtpInOptions {
  const c = runtime.config;
  return {
    ...DEFAULT_OPTIONS,
    port: c.ports.smtp,
    securePort: c.ports.smtps,
    bindAddress: c.bindAddress,
    hostname: c.hostname,
    tls: c.tls ? { key: readFileSync(c.tls.keyFile), cert: readFileSync(c.tls.certFile) } : undefined,
    proxyProtocol: c.proxyProtocol,
    resolver: undefined,
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
  private readonly deadlines: SmtpDeadlines;
  private readonly sessions = new Map<string, SessionState>();
  private readonly servers: AerogramSmtpServer[] = [];
  private readonly listeners: Listener[] = [];
  private readonly boundPorts: number[] = [];
  private draining = false;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly opts: SmtpInOptions,
  ) {
    this.log = runtime.log.child({ component: "smtp-in" });
    this.metrics = new SmtpMetrics(runtime.metrics);
    this.limits = new RateLimits(runtime.limits, opts.rateLimits, this.log);
    this.policy = new RecipientPolicy(runtime.store, this.limits);
    this.delivery = new Delivery(
      { store: runtime.store, blobs: runtime.blobs, events: runtime.events },
      { groupCommit: opts.groupCommit ?? DEFAULT_GROUP_COMMIT },
    );
    this.resolver = opts.resolver ?? createCachedResolver();
    this.deadlines = new SmtpDeadlines(opts.deadlines);
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
      server.on("error", (err: Error) => this.log.debug({ err }, "smtp connection error"));
      // Our Listener owns the socket (smtp-server's own useProxy reads PROXY
      // v1 only): it reads a v1/v2 header when configured, runs implicit TLS,
      // and hands the socket to smtp-server with the client's address.
      const listener = new Listener({
        host: this.opts.bindAddress,
        port,
        ...(secure && this.opts.tls ? { tls: createSecureContext(this.opts.tls) } : {}),
        ...(this.opts.proxyProtocol ? { proxyProtocol: this.opts.proxyProtocol } : {}),
        onConnection: (socket, info) =>
          server.connect(socket, { remoteAddress: info.remoteAddress, remotePort: info.remotePort }),
        onClientError: (err) => this.log.info({ err }, "smtp connection refused before the greeting"),
      });
      const addr = await listener.listen();
      this.servers.push(server);
      this.listeners.push(listener);
      this.boundPorts.push(addr.port);
      endpoints.push(`${secure ? "smtps" : "smtp"} ${addr.address}:${addr.port}`);
    };
    await listen(this.opts.port, false);
    if (this.opts.securePort !== undefined && this.opts.tls) await listen(this.opts.securePort, true);
    this.pruneTimer = setInterval(() => void this.pruneDedupeKeys(), 3600_000);
    this.pruneTimer.unref();
    this.log.info({ endpoints }, "smtp-in listening");
    return {
      name: "smtp-in",
      endpoints,
      connections: () => this.servers.reduce((n, s) => n + s.connections.size, 0),
      drain: (graceMs) => this.drain(graceMs),
    };
  }

  /** The bound ports, in start order (plain first). */
  ports(): number[] {
    return [...this.boundPorts];
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
    if (!(await this.limits.messageFromIp(state.ip))) {
      this.metrics.transactions.inc({ result: "rate_limited" });
      return cb(new SmtpReply(451, "4.7.1", "Too many messages from your address, try again later"));
    }
    cb();
  }

  private async onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, cb: Callback) {
    const state = this.sessions.get(session.id);
    if (!state) return cb(localError());
    const verdict = await this.policy.check(address.address, state.declaredSize);
    if (verdict instanceof SmtpReply) {
      const result = verdict.responseCode >= 500 ? "rejected" : "deferred";
      this.metrics.recipients.inc({ result, reason: verdict.reason });
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
    let spooled: Awaited<ReturnType<typeof spoolMessage>> | undefined;
    try {
      spooled = await spoolMessage(stream, { memoryBytes: this.opts.spoolMemoryBytes });
    } catch (err) {
      // The client went away mid-DATA: nothing was stored, nothing to answer.
      this.metrics.transactions.inc({ result: "aborted" });
      this.log.info({ err, session: session.id }, "message not received in full");
      return cb(localError());
    }
    const dataEnd = performance.now();
    try {
      this.metrics.receivedBytes.inc(spooled.size);
      if (!state || state.recipients.length === 0) return cb(localError());
      if (stream.sizeExceeded) {
        this.metrics.transactions.inc({ result: "rejected" });
        return cb(new SmtpReply(552, "5.3.4", "Message exceeds fixed maximum message size"));
      }
      if (this.opts.maxLineOctets > 0 && spooled.longestLine > this.opts.maxLineOctets) {
        this.metrics.transactions.inc({ result: "rejected" });
        return cb(new SmtpReply(500, "5.5.2", "Line too long (RFC 5321 §4.5.3.1.6: 1000 octets)"));
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
          dedupeWindowSeconds: this.opts.dedupeWindowSeconds,
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
      })) {
        this.metrics.authVerdicts.inc({ method, result });
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
    } catch (err) {
      this.metrics.transactions.inc({ result: "failed" });
      this.log.warn({ err, session: session.id }, "delivery failed; the sender will retry");
      cb(localError());
    } finally {
      await spooled.dispose();
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
    for (const listener of this.listeners) listener.stopAccepting();
    const deadline = Date.now() + graceMs;
    for (;;) {
      let open = 0;
      for (const server of this.servers) {
        for (const c of server.connections) {
          if (!c.session.envelope?.mailFrom || Date.now() >= deadline)
            c.send(421, "4.3.2 Service shutting down");
          else open++;
        }
      }
      if (open === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Every session got its 421 (which closes it); give the sockets a moment to go.
    for (const listener of this.listeners) {
      if ((await listener.waitForConnections(Math.max(1000, deadline - Date.now()))) > 0)
        listener.destroyAll();
    }
    this.deadlines.close();
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
