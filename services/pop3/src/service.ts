/**
 * The POP3 gateway service: listeners (plain with STLS, and implicit TLS when
 * POP3S_PORT is set), the sessions on them, one idle sweeper, one timer that
 * renews every held maildrop lease, and drain.
 */
import { Authenticator, sharedTokenAuthenticator } from "@aerogram/auth";
import { type Limiter, RedisLimiter, TtlCache } from "@aerogram/limits";
import { IdleSweeper, Listener, type TlsSource } from "@aerogram/net";
import { type Runtime, runtimeTls, type ServiceHandle } from "@aerogram/runtime";
import { filesystemBlobPath } from "./message-read.ts";
import { pop3Metrics } from "./metrics.ts";
import { Pop3Session, type RecentLogins, type SessionOptions } from "./session.ts";

export interface Pop3ServiceOptions {
  host?: string;
  /** Plain port (STLS when TLS is configured); 0 picks a free one. */
  port?: number;
  /** Implicit-TLS port (995 in production); unset means none. */
  tlsPort?: number;
  tls?: TlsSource;
  hostname?: string;
  apop?: boolean;
  /** Maildrop lock lease; renewed every third of it. */
  leaseMs?: number;
  idleMs?: number;
  maxLineOctets?: number;
  authenticator?: Authenticator;
  /** POP3_RECENT_LOGIN_TTL_MS (tests). */
  recentLoginTtlMs?: number;
  /** POP3_RECENT_LOGIN_ENTRIES (tests); 0 remembers none. */
  recentLoginEntries?: number;
}

/** The (IP, name) pairs that logged in lately; none with 0 entries. */
function recentLoginMemory(ttlMs: number, maxEntries: number): RecentLogins {
  if (maxEntries <= 0) return { has: () => false, set: () => {} };
  return new TtlCache<string, true>({ ttlMs, maxEntries });
}

export interface Pop3Service extends ServiceHandle {
  /** The bound plain port (useful with port 0). */
  port: number;
  tlsPort: number | undefined;
}

const LEASE_MS = 60_000;
/** Lines beyond RFC 2449's 255-octet arguments are for SASL responses (RFC 5034 §4). */
const MAX_LINE_OCTETS = 8192;

export async function createPop3Service(
  runtime: Runtime,
  opts: Pop3ServiceOptions = {},
): Promise<Pop3Service> {
  const log = runtime.log.child({ service: "pop3" });
  const tls = opts.tls ?? runtimeTls(runtime);
  const options: SessionOptions = {
    hostname: opts.hostname ?? runtime.config.hostname,
    tls,
    apop: opts.apop ?? true,
    leaseMs: opts.leaseMs ?? LEASE_MS,
    // POP3_IDLE_TIMEOUT_MS; RFC 1939 §3: an autologout timer of at least 10 minutes.
    idleMs: opts.idleMs ?? runtime.config.protocolLimits.pop3.idleTimeoutMs,
    maxLineOctets: opts.maxLineOctets ?? MAX_LINE_OCTETS,
  };
  const idle = new IdleSweeper();
  const sessions = new Set<Pop3Session>();
  const holding = new Set<Pop3Session>();
  const authenticator =
    opts.authenticator ??
    new Authenticator(
      {
        store: runtime.store,
        limits: runtime.limits,
        log,
        metrics: runtime.metrics,
        // Account and password hash in one query: a login is one database round trip.
        credentials: (name) => runtime.store.accounts.loginCredentials(name),
      },
      runtime.config.protocolLimits.auth,
    );
  // The maildrop lock (and a login's block check with it, APOP's buckets) on
  // a Redis connection of its own without auto-pipelining: on the shared one
  // a PASS's lock request waited for whatever batch was in flight (another
  // session's release, the Authenticator's failure counts), often a whole
  // extra round trip. One connection per process keeps a release and the next
  // lock request of this process in order.
  const locks: Limiter =
    runtime.limits instanceof RedisLimiter
      ? runtime.limits.withOwnConnection({ autoPipelining: false })
      : runtime.limits;
  const deps = {
    store: runtime.store,
    blobs: runtime.blobs,
    blobPath: filesystemBlobPath(runtime.config.blobs),
    events: runtime.events,
    limits: locks,
    log,
    authenticator,
    oauth: sharedTokenAuthenticator(
      { store: runtime.store, limits: runtime.limits, log: runtime.log, metrics: runtime.metrics },
      runtime.config.identity.oidc,
    ),
    metrics: pop3Metrics(runtime.metrics),
    // POP3_RECENT_LOGIN_TTL_MS / _ENTRIES: how long, and for how many (IP,
    // name) pairs, a good login lets the next USER from the same IP for the
    // same name read the INBOX snapshot with the credentials
    // (authorization.ts); about 100 bytes an entry; 0 entries: never.
    recentLogins: recentLoginMemory(
      opts.recentLoginTtlMs ?? runtime.config.protocolLimits.pop3.recentLoginTtlMs,
      opts.recentLoginEntries ?? runtime.config.protocolLimits.pop3.recentLoginEntries,
    ),
    idle,
    options,
    onMaildrop(session: Pop3Session, held: boolean) {
      if (held) holding.add(session);
      else holding.delete(session);
    },
    onClosed(session: Pop3Session) {
      sessions.delete(session);
    },
  };

  // One timer renews every lease this process holds; a lost lease ends its session.
  const renewal = setInterval(
    () => {
      for (const session of holding) {
        const drop = session.maildrop;
        if (!drop) continue;
        drop.renew().then(
          (held) => {
            if (!held) session.onLockLost();
          },
          (error: unknown) => log.warn({ err: error }, "POP3 lease renewal failed; retrying"),
        );
      }
    },
    Math.max(100, Math.floor(options.leaseMs / 3)),
  );
  renewal.unref();

  const listeners: Listener[] = [];
  const host = opts.host ?? runtime.config.bindAddress;
  const onConnection =
    (secure: boolean) => (socket: import("node:net").Socket, info: { remoteAddress: string }) => {
      const session = new Pop3Session(deps, socket, { remoteAddress: info.remoteAddress, secure });
      sessions.add(session);
      session.start();
    };
  // PROXY v1/v2 (config.proxyProtocol): sessions see the client's address.
  const proxy = runtime.config.proxyProtocol ? { proxyProtocol: runtime.config.proxyProtocol } : {};
  const plain = new Listener({
    host,
    port: opts.port ?? runtime.config.ports.pop3,
    ...proxy,
    onConnection: onConnection(false),
    onClientError: (error) => log.info({ err: error }, "POP3 connection refused"),
  });
  listeners.push(plain);
  const plainAddr = await plain.listen();
  const endpoints = [`pop3 ${host}:${plainAddr.port}${tls ? " (STLS)" : ""}`];
  let tlsPort: number | undefined;
  const implicitPort = opts.tlsPort ?? runtime.config.ports.pop3s;
  if (tls && implicitPort !== undefined) {
    const secure = new Listener({
      host,
      port: implicitPort,
      tls,
      ...proxy,
      onConnection: onConnection(true),
      onClientError: (error) => log.debug({ err: error }, "POP3S handshake failed"),
    });
    listeners.push(secure);
    tlsPort = (await secure.listen()).port;
    endpoints.push(`pop3s ${host}:${tlsPort}`);
  }

  return {
    name: "pop3",
    endpoints,
    port: plainAddr.port,
    tlsPort,
    connections: () => listeners.reduce((n, l) => n + l.connections, 0),
    async drain(graceMs: number) {
      for (const l of listeners) l.stopAccepting();
      for (const s of sessions) s.beginDrain();
      const deadline = Date.now() + graceMs;
      for (const l of listeners) await l.waitForConnections(Math.max(0, deadline - Date.now()));
      for (const s of sessions) s.endDrain();
      for (const l of listeners) await l.waitForConnections(1000);
      for (const l of listeners) l.destroyAll();
      clearInterval(renewal);
      idle.close();
      if (locks !== runtime.limits) await locks.close();
    },
  };
}
