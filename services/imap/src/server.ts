/**
 * The IMAP gateway of one process: listeners (plain with STARTTLS, and implicit
 * TLS when configured), the sessions, one IdleSweeper for autologout and one
 * poll tick for IDLE sessions (no per-session timers: an idle session costs memory only).
 *
 * Poll tick: events are wake-up beacons and are dropped while a publisher is
 * disconnected, so idling sessions also re-check their mailbox — every
 * POLL_DISCONNECTED_MS while the bus is down, every POLL_CONNECTED_MS otherwise.
 * When this process's bus reconnects, it re-checks at once and keeps the short
 * interval for RECONNECT_GRACE_MS: publishers (SMTP-in, other gateways) may
 * reconnect later than we do, and what they publish until then is lost.
 * A failed poll round or IDLE push (Postgres down or restarting) also keeps the
 * short interval for RECONNECT_GRACE_MS after the last failure: the event that
 * woke the session is spent, so without it an idler would wait up to
 * POLL_CONNECTED_MS after the database came back.
 * A poll round is one query for the HIGHESTMODSEQ of every mailbox idlers
 * (live and hibernated) have selected; only sessions whose mailbox moved past
 * their view sync, so the cost of a round does not grow with the number of idle
 * sessions, and the tick (IMAP_IDLE_POLL_MS, 500 ms) can be short.
 *
 * Hibernation (hibernate.ts): long IDLEs become compact records the server
 * counts as connections but keeps outside `sessions`.
 */
import type { Socket } from "node:net";
import { Authenticator, ConnectionLimiter, sharedTokenAuthenticator } from "@aerogram/auth";
import type { ImapLimits } from "@aerogram/config";
import { Delivery } from "@aerogram/delivery";
import { IdleSweeper, Listener } from "@aerogram/net";
import { type Logger, newSessionId } from "@aerogram/observability";
import { type Runtime, runtimeTls } from "@aerogram/runtime";
import type { ServerContext } from "./context.ts";
import { MessageCache } from "./fetch/message-cache.ts";
import { type HibernatedSession, Hibernation } from "./hibernate.ts";
import { MailboxHeads } from "./mailbox-heads.ts";
import { createImapMetrics } from "./metrics.ts";
import { Session } from "./session.ts";

const POLL_CONNECTED_MS = 30_000;
const RECONNECT_GRACE_MS = 10_000;

export interface ImapServerConstruction {
  /** Authenticated IMAP sessions per account across the cluster (default: IMAP_MAX_SESSIONS_PER_ACCOUNT). */
  maxSessionsPerAccount?: number;
  /** Overrides of the configured IMAP limits (tests). */
  limits?: Partial<ImapLimits>;
}

export interface ImapServerOptions {
  port?: number;
  tlsPort?: number | undefined;
  host?: string;
}

export class ImapServer {
  readonly ctx: ServerContext;
  readonly sessions = new Set<Session>();
  readonly hibernation: Hibernation;
  readonly #sweeper = new IdleSweeper(1000);
  readonly #listeners: Listener[] = [];
  #pollTimer: NodeJS.Timeout | null = null;
  #lastConnectedPoll = 0;
  #recoveringUntil = 0;
  #busWatch: { unsubscribe(): void } | null = null;
  #polling = false;
  #pollAgain = false;

  constructor(runtime: Runtime, options: ImapServerConstruction = {}) {
    const config = runtime.config;
    this.ctx = {
      runtime,
      auth: new Authenticator(
        {
          store: runtime.store,
          limits: runtime.limits,
          log: runtime.log,
          metrics: runtime.metrics,
          // Account and password hash in one (named) query: LOGIN is one round trip, not two.
          credentials: (name) => runtime.store.accounts.loginCredentials(name),
        },
        config.protocolLimits.auth,
      ),
      oauth: sharedTokenAuthenticator(
        { store: runtime.store, limits: runtime.limits, log: runtime.log, metrics: runtime.metrics },
        config.identity.oidc,
      ),
      connections: new ConnectionLimiter(
        { limits: runtime.limits, log: runtime.log },
        { maxPerAccount: options.maxSessionsPerAccount ?? config.imapMaxSessionsPerAccount },
      ),
      delivery: new Delivery(
        { store: runtime.store, blobs: runtime.blobs, events: runtime.events },
        { searchMaxBodyChars: config.protocolLimits.search.maxTextChars },
      ),
      imapMailboxes: runtime.store.mailboxes,
      imapMessages: runtime.store.messages,
      orphanSubscriptions: runtime.store.subscriptions,
      metrics: createImapMetrics(runtime.metrics),
      tls: runtimeTls(runtime),
      hostname: config.hostname,
      limits: { ...config.protocolLimits.imap, ...options.limits },
      messageCache: new MessageCache(
        options.limits?.messageCacheBytes ?? config.protocolLimits.imap.messageCacheBytes,
      ),
      heads: new MailboxHeads(
        runtime.events,
        options.limits?.headMaxStaleMs ?? config.protocolLimits.imap.headMaxStaleMs,
      ),
    };
    this.hibernation = new Hibernation(
      this.ctx,
      {
        sessions: () => this.sessions,
        adopt: (session, record, autologoutLeftMs) => {
          this.sessions.delete(session);
          this.#sweeper.unwatch(session);
          this.#sweeper.watch(record, autologoutLeftMs);
          this.ctx.connections.transfer(session, record);
        },
        revive: (record, log) => {
          const session = this.#newSession(record.socket, record.remoteAddress, record.secure, log);
          this.#sweeper.unwatch(record);
          this.ctx.connections.transfer(record, session);
          return session;
        },
        ended: (record) => {
          this.ctx.metrics.sessions.dec();
          this.#sweeper.unwatch(record);
          void this.ctx.connections.release(record);
        },
        backendTrouble: () => this.#backendTrouble(),
      },
      this.ctx.limits.hibernateAfterMs,
    );
  }

  async listen(opts: ImapServerOptions = {}): Promise<string[]> {
    const config = this.ctx.runtime.config;
    const host = opts.host ?? config.bindAddress;
    const endpoints: string[] = [];
    // Behind a load balancer (PROXY v1/v2): sessions see the client's address
    // for logs, auth throttling and connection limits; a missing header closes.
    const proxy = {
      ...(config.proxyProtocol ? { proxyProtocol: config.proxyProtocol } : {}),
      onClientError: (err: Error) =>
        this.ctx.runtime.log.info({ err, protocol: "imap" }, "connection refused"),
    };
    const plain = new Listener({
      host,
      port: opts.port ?? config.ports.imap,
      ...proxy,
      onConnection: (socket, info) => this.#accept(socket, info.remoteAddress, false),
    });
    const address = await plain.listen();
    this.#listeners.push(plain);
    endpoints.push(`IMAP   ${host}:${address.port}${this.ctx.tls ? " (STARTTLS)" : ""}`);
    const tlsPort = opts.tlsPort ?? config.ports.imaps;
    if (tlsPort !== undefined && this.ctx.tls) {
      const secure = new Listener({
        host,
        port: tlsPort,
        tls: this.ctx.tls,
        ...proxy,
        onConnection: (socket, info) => this.#accept(socket, info.remoteAddress, true),
      });
      const secureAddress = await secure.listen();
      this.#listeners.push(secure);
      endpoints.push(`IMAPS  ${host}:${secureAddress.port}`);
    }
    this.#pollTimer = setInterval(() => this.#pollIdlers(), this.ctx.limits.idlePollMs);
    this.#pollTimer.unref();
    this.#busWatch = this.ctx.runtime.events.onStateChange((state) => {
      if (state !== "connected") return;
      this.#recoveringUntil = Date.now() + RECONNECT_GRACE_MS;
      this.pollNow();
    });
    return endpoints;
  }

  /** Open connections: live sessions and hibernated ones. */
  get connections(): number {
    return this.sessions.size + this.hibernation.size;
  }

  #accept(socket: Socket, remoteAddress: string, secure: boolean): void {
    const log = this.ctx.runtime.log.child({ session: newSessionId(), protocol: "imap", ip: remoteAddress });
    const session = this.#newSession(socket, remoteAddress, secure, log);
    this.ctx.metrics.sessions.inc();
    // Idle IMAP_PREAUTH_IDLE_MS before login, and login done within
    // IMAP_LOGIN_DEADLINE_MS however slowly bytes trickle in (slowloris); after
    // login the session re-watches itself with the autologout and no deadline.
    const { preauthIdleMs, loginDeadlineMs } = this.ctx.limits;
    this.#sweeper.watch(session, preauthIdleMs, loginDeadlineMs);
    void session.run();
  }

  /** A session with the server's hooks, in `sessions` (a new connection, or a hibernated one waking up). */
  #newSession(socket: Socket, remoteAddress: string, secure: boolean, log: Logger): Session {
    const session = new Session(this.ctx, socket, remoteAddress, secure, log, {
      onClose: (s) => {
        if (this.sessions.delete(s)) this.ctx.metrics.sessions.dec();
        void this.ctx.connections.release(s);
        this.#sweeper.unwatch(s);
      },
      touch: (s, limitMs) => {
        if (limitMs !== undefined) this.#sweeper.watch(s, limitMs);
        else this.#sweeper.touch(s);
      },
      onSyncFailed: () => this.#backendTrouble(),
    });
    this.sessions.add(session);
    return session;
  }

  /** Re-checks every idling session's mailbox now (tests; the tick calls this). */
  pollNow(): void {
    if (this.#polling) {
      // The round in flight may have read before the change this call is about.
      this.#pollAgain = true;
      return;
    }
    this.#polling = true;
    void this.#pollRound().finally(() => {
      this.#polling = false;
      if (this.#pollAgain) {
        this.#pollAgain = false;
        this.pollNow();
      }
    });
  }

  async #pollRound(): Promise<void> {
    const byMailbox = new Map<number, (Session | HibernatedSession)[]>();
    const add = (id: number, idler: Session | HibernatedSession) => {
      const list = byMailbox.get(id);
      if (list) list.push(idler);
      else byMailbox.set(id, [idler]);
    };
    for (const session of this.sessions) {
      const view = session.selected;
      if (session.idling && view) add(view.id, session);
    }
    for (const record of this.hibernation.records()) add(record.mailboxId, record);
    if (byMailbox.size === 0) return;
    let heads: Map<number, number>;
    try {
      heads = await this.ctx.runtime.store.mailboxes.highestModseqs([...byMailbox.keys()]);
    } catch (err) {
      this.ctx.runtime.log.debug({ err }, "idle poll failed; the next tick retries");
      this.#backendTrouble();
      return;
    }
    for (const [id, sessions] of byMailbox) {
      const head = heads.get(id);
      // A mailbox that is gone: the session's sync says so (BYE).
      for (const s of sessions) {
        if (s instanceof Session) {
          if (head === undefined || head > s.selected!.modseq) s.pushUpdates();
        } else if (head === undefined || head > s.modseq) this.hibernation.push(s);
      }
    }
  }

  /** Poll every tick until RECONNECT_GRACE_MS after the last backend failure. */
  #backendTrouble(): void {
    this.#recoveringUntil = Math.max(this.#recoveringUntil, Date.now() + RECONNECT_GRACE_MS);
  }

  #pollIdlers(): void {
    const now = Date.now();
    const connected = this.ctx.runtime.events.state === "connected";
    const recovering = now < this.#recoveringUntil;
    if (connected && !recovering && now - this.#lastConnectedPoll < POLL_CONNECTED_MS) return;
    this.#lastConnectedPoll = now;
    this.pollNow();
  }

  async drain(graceMs: number): Promise<void> {
    for (const listener of this.#listeners) listener.stopAccepting();
    for (const session of this.sessions) session.drain();
    this.hibernation.drain();
    const deadline = Date.now() + graceMs;
    for (const listener of this.#listeners) {
      const left = await listener.waitForConnections(Math.max(0, deadline - Date.now()));
      if (left > 0) listener.destroyAll();
    }
    this.close();
  }

  close(): void {
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#busWatch?.unsubscribe();
    this.hibernation.close();
    this.ctx.connections.close();
    this.#sweeper.close();
    for (const listener of this.#listeners) {
      listener.stopAccepting();
      listener.destroyAll();
    }
  }
}
