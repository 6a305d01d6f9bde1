/**
 * One typed configuration for every Aerogram process, read from environment
 * variables. A wrong value fails at start with a message that names the
 * variable and says what is expected; nothing reads process.env elsewhere.
 *
 * Each outside server is optional: leave its variable unset and the process uses
 * the embedded default (PGlite for Postgres, ./data/blobs for S3, an in-process
 * bus for NATS, an in-memory limiter for Redis).
 */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { z } from "zod";
import { type IdentityConfig, identityConfig, identityProblems, identitySchema } from "./identity.ts";
import { type LifecycleConfig, lifecycleConfig, lifecycleSchema } from "./lifecycle.ts";
import {
  type ProtocolLimits,
  protocolLimitProblems,
  protocolLimits,
  protocolLimitsSchema,
} from "./protocol-limits.ts";

export * from "./identity.ts";
export * from "./lifecycle.ts";
export * from "./protocol-limits.ts";

const port = z.coerce
  .number({ error: "expected a TCP port number" })
  .int("expected a whole number")
  .min(0, "expected a port from 0 to 65535 (0 picks a free port)")
  .max(65535, "expected a port from 0 to 65535");

const optionalPort = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === "") return undefined;
    const parsed = port.safeParse(v);
    if (!parsed.success) {
      ctx.addIssue({ code: "custom", message: "expected a port from 0 to 65535, or empty to disable" });
      return z.NEVER;
    }
    return parsed.data;
  });

const bool = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === "") return undefined;
    const s = v.toLowerCase();
    if (["1", "true", "yes", "on"].includes(s)) return true;
    if (["0", "false", "no", "off"].includes(s)) return false;
    ctx.addIssue({ code: "custom", message: "expected true or false" });
    return z.NEVER;
  });

const url = (protocols: string[]) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return undefined;
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        ctx.addIssue({ code: "custom", message: `expected a URL (${protocols.join(" or ")})` });
        return z.NEVER;
      }
      if (!protocols.includes(u.protocol)) {
        ctx.addIssue({
          code: "custom",
          message: `expected a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`,
        });
        return z.NEVER;
      }
      return v;
    });

const positiveInt = (def: number) =>
  z.coerce.number({ error: "expected a number" }).int("expected a whole number").positive().default(def);

const IPV4_CIDR = /^(\d{1,3})(\.\d{1,3}){3}(\/\d{1,2})?$/;
const IPV6_CIDR = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(\/\d{1,3})?$/;

/** A comma list of CIDR ranges or addresses (IPv4 or IPv6). */
const cidrList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v.trim() === "") return undefined;
    const list = v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of list) {
      const [address = "", prefix] = item.split("/");
      const v4 = IPV4_CIDR.test(item) && address.split(".").every((o) => Number(o) <= 255);
      const v6 = !v4 && IPV6_CIDR.test(item);
      const max = v4 ? 32 : 128;
      if ((!v4 && !v6) || (prefix !== undefined && Number(prefix) > max)) {
        ctx.addIssue({
          code: "custom",
          message: `expected a comma list of CIDR ranges, e.g. 10.0.0.0/8,fd00::/8 (bad: ${item})`,
        });
        return z.NEVER;
      }
    }
    return list;
  });

export const SERVICE_NAMES = [
  "smtp-in",
  "imap",
  "pop3",
  "admin",
  "submission",
  "outbound",
  "managesieve",
  // The blob reclaimer and the retention worker (issue 22).
  "lifecycle",
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const services = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v === "" || v === "all") return [...SERVICE_NAMES];
    const list = v.split(",").map((s) => s.trim());
    for (const s of list) {
      if (!(SERVICE_NAMES as readonly string[]).includes(s)) {
        ctx.addIssue({
          code: "custom",
          message: `expected "all" or a comma list of ${SERVICE_NAMES.join(", ")}`,
        });
        return z.NEVER;
      }
    }
    return list as ServiceName[];
  });

/** The environment variables we read, with their validation. */
const envSchema = z.object({
  AEROGRAM_SERVICES: services,
  AEROGRAM_WORKERS: z.coerce
    .number({ error: "expected a number" })
    .int("expected a whole number")
    .positive()
    .optional(),
  DATA_DIR: z.string().default("./data"),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  MAIL_HOSTNAME: z.string().min(1).default("localhost"),
  BIND_ADDRESS: z.string().default("127.0.0.1"),

  DATABASE_URL: url(["postgres:", "postgresql:"]),
  DATABASE_POOL_MAX: positiveInt(10),
  DATABASE_PREPARED_STATEMENTS: bool,
  EMBEDDED_PG_PORT: port.default(54329),
  EMBEDDED_PG_STALL_MS: positiveInt(10_000),

  S3_ENDPOINT: url(["http:", "https:"]),
  S3_BUCKET: z.string().optional(),
  S3_REGION: z.string().default("us-east-1"),
  S3_ACCESS_KEY_ID: z.string().optional(),
  S3_SECRET_ACCESS_KEY: z.string().optional(),
  S3_FORCE_PATH_STYLE: bool,
  BLOB_DIR: z.string().optional(),
  BLOB_CACHE_BYTES: z.coerce
    .number({ error: "expected a number" })
    .int("expected a whole number")
    .min(0)
    .default(64 * 1024 * 1024),

  NATS_URL: url(["nats:", "tls:", "ws:", "wss:"]),
  NATS_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "expected dot-separated tokens of letters, digits, - and _")
    .default("aerogram"),

  REDIS_URL: url(["redis:", "rediss:"]),
  REDIS_KEY_PREFIX: z.string().default("aerogram:"),
  REDIS_SLOT_LEASE_MS: positiveInt(30_000),

  SMTP_PORT: port.default(2525),
  SMTPS_PORT: optionalPort,
  IMAP_PORT: port.default(1143),
  IMAP_MAX_SESSIONS_PER_ACCOUNT: positiveInt(20),
  IMAPS_PORT: optionalPort,
  POP3_PORT: port.default(1110),
  POP3S_PORT: optionalPort,
  HTTP_PORT: port.default(8080),

  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),

  PROXY_PROTOCOL: bool,
  PROXY_TRUSTED_NETWORKS: cidrList,

  SUBMISSION_PORT: port.optional(),
  SUBMISSIONS_PORT: optionalPort,
  SUBMISSION_ALLOW_INSECURE_AUTH: bool,
  SUBMISSION_MAX_MESSAGE_BYTES: positiveInt(50 * 1024 * 1024),
  SUBMISSION_SENDER_POLICY: z.enum(["account", "domain", "any"]).default("account"),
  // A remote-only message whose copies (one per recipient domain) total at most
  // this many octets is kept in its queue rows, not the blob store: one flush
  // (the commit) before the 250 instead of three. 0: always the blob store.
  // At most 1 MiB: larger messages are streamed, never held whole.
  SUBMISSION_INLINE_QUEUE_MAX_BYTES: z.coerce
    .number({ error: "expected a number" })
    .int("expected a whole number")
    .min(0)
    .max(1024 * 1024, "at most 1048576 (1 MiB)")
    .default(64 * 1024),
  SEND_LIMIT_MESSAGES_PER_HOUR: positiveInt(200),
  SEND_LIMIT_RECIPIENTS_PER_MESSAGE: positiveInt(100),
  SEND_LIMIT_RECIPIENTS_PER_DAY: positiveInt(1000),
  OUTBOUND_ROUTES: z.string().optional(),
  OUTBOUND_RETRY_SCHEDULE: z
    .string()
    .regex(/^\s*\d+[smhd]?(\s*,\s*\d+[smhd]?)*\s*$/, "expected a comma list of durations, e.g. 5m,15m,1h,4h")
    .default("5m,10m,30m,1h,2h,4h,8h,16h"),
  OUTBOUND_MAX_AGE: z
    .string()
    .regex(/^\d+[smhd]?$/, "expected a duration, e.g. 5d")
    .default("5d"),
  OUTBOUND_CONCURRENCY: positiveInt(20),
  OUTBOUND_DOMAIN_CONCURRENCY: positiveInt(5),
  OUTBOUND_LEASE_MS: positiveInt(60_000),
  OUTBOUND_POLL_MS: positiveInt(1000),
  OUTBOUND_TIMEOUT_MS: positiveInt(300_000),
  // Issue 19, second part: RFC 5321 §4.5.3.2 timeouts per stage, and RFC 3464 delay notices.
  OUTBOUND_CONNECT_TIMEOUT_MS: positiveInt(30_000),
  OUTBOUND_GREETING_TIMEOUT_MS: positiveInt(300_000),
  OUTBOUND_DATA_DONE_TIMEOUT_MS: positiveInt(600_000),
  OUTBOUND_DELAY_NOTICE_AFTER: z
    .string()
    .regex(/^\d+[smhd]?$/, "expected a duration, e.g. 4h (0: no delay notices)")
    .default("4h"),
  OUTBOUND_MTA_STS: bool,
  OUTBOUND_WORKERS: z.coerce.number({ error: "expected a number" }).int().min(0).default(1),
  DKIM_ENCRYPTION_KEY: z.string().min(16, "expected at least 16 characters").optional(),

  ADMIN_TOKEN: z.string().optional(),
  AEROGRAM_ADMIN_URL: url(["http:", "https:"]),
  DEMO_ACCOUNT: bool,

  // Filtering (issue 21): rspamd, DMARC enforcement, Sieve, ManageSieve.
  RSPAMD_URL: url(["http:"]),
  RSPAMD_CONTROLLER_URL: url(["http:"]),
  RSPAMD_PASSWORD: z.string().optional(),
  RSPAMD_TIMEOUT_MS: positiveInt(10_000),
  RSPAMD_UNAVAILABLE: z.enum(["deliver", "tempfail"]).default("deliver"),
  RSPAMD_MAX_SCAN_BYTES: positiveInt(20 * 1024 * 1024),
  DMARC_ENFORCE: bool,
  MANAGESIEVE_PORT: optionalPort,
  SIEVE_MAX_SCRIPT_BYTES: positiveInt(64 * 1024),
  SIEVE_MAX_SCRIPTS: positiveInt(20),
  SIEVE_MAX_REDIRECTS: positiveInt(4),
  SIEVE_MAX_ACTIONS: positiveInt(32),

  ...protocolLimitsSchema,
  ...lifecycleSchema,
  ...identitySchema,
});

export type Env = Record<string, string | undefined>;

/** "90s", "5m", "4h", "5d", or bare milliseconds. */
export function durationMs(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) throw new Error(`not a duration: ${s}`);
  const unit = { "": 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

export interface Config {
  services: ServiceName[];
  /**
   * Processes serving the mail ports (node:cluster workers sharing the
   * listeners); 1 = one process, no cluster. Default: the number of cores
   * with DATABASE_URL; 1 on the embedded PGlite, whose one backend is one
   * core in one process anyway.
   */
  workers: number;
  dataDir: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  hostname: string;
  bindAddress: string;
  /** Absent: embedded PGlite served on 127.0.0.1:embeddedPort. */
  database: {
    url: string | undefined;
    poolMax: number;
    /** Named/PREPAREd hot statements (off behind a transaction-pooling proxy such as PgBouncer). */
    preparedStatements: boolean;
    embeddedPort: number;
    embeddedDir: string;
    /**
     * Embedded only: how long a connection may keep the one backend idle (in a
     * transaction or holding a session advisory lock) while another waits,
     * before the waiter is failed with 40P01 (libs/embedded-pg).
     */
    embeddedStallMs: number;
  };
  /** Bytes of small blob ranges kept in memory per process (blobs are immutable); 0 disables. */
  blobCacheBytes: number;
  blobs:
    | {
        kind: "s3";
        endpoint: string | undefined;
        bucket: string;
        region: string;
        forcePathStyle: boolean;
        accessKeyId?: string;
        secretAccessKey?: string;
      }
    | { kind: "fs"; dir: string };
  events: { kind: "nats"; url: string; subjectPrefix: string } | { kind: "memory"; subjectPrefix: string };
  /**
   * slotLeaseMs: how long the connection and session slots of a replica that
   * died without releasing them keep counting (per-IP SMTP, per-account IMAP
   * and POP3 limits); the replica renews its live ones every third of it.
   */
  limits:
    | { kind: "redis"; url: string; keyPrefix: string; slotLeaseMs: number }
    | { kind: "memory"; keyPrefix: string };
  ports: {
    smtp: number;
    smtps: number | undefined;
    imap: number;
    imaps: number | undefined;
    pop3: number;
    pop3s: number | undefined;
    http: number;
  };
  tls: { certFile: string; keyFile: string } | undefined;
  /** Authenticated IMAP sessions one account may hold across the cluster. */
  imapMaxSessionsPerAccount: number;
  /** SMTP, login and POP3 limits (protocol-limits.ts). */
  protocolLimits: ProtocolLimits;
  /**
   * PROXY protocol (v1/v2) on every mail listener, off by default. Pass it as
   * the Listener's `proxyProtocol` option; trustedNetworks absent = any peer.
   */
  proxyProtocol: { trustedNetworks?: string[] } | undefined;
  /** Submission (RFC 6409 on `port`, RFC 8314 implicit TLS on `securePort`). */
  submission: {
    port: number;
    securePort: number | undefined;
    /** AUTH without TLS from non-loopback clients (dev only; loopback never needs TLS). */
    allowInsecureAuth: boolean;
    maxMessageBytes: number;
    /** account: MAIL FROM/From: must be the account or an alias; domain: any address of those domains. */
    senderPolicy: "account" | "domain" | "any";
    /** Remote-only messages up to this total (size × recipient domains) go into the queue rows, not the blob store; 0: never. */
    inlineQueueMaxBytes: number;
    limits: { messagesPerHour: number; recipientsPerMessage: number; recipientsPerDay: number };
  };
  /** The outbound queue's workers and remote delivery. */
  outbound: {
    /** OUTBOUND_ROUTES as given (parsed by services/outbound). */
    routes: string | undefined;
    /** Delays before attempt 2, 3, …, in ms; the last repeats until maxAgeMs. */
    retryScheduleMs: number[];
    maxAgeMs: number;
    concurrency: number;
    domainConcurrency: number;
    leaseMs: number;
    pollMs: number;
    /** Per-stage SMTP client timeout (RFC 5321 §4.5.3.2: 5 minutes for most stages). */
    timeoutMs: number;
    /** TCP connect (and TLS-on-connect) timeout. */
    connectTimeoutMs: number;
    /** The 220 greeting (RFC 5321 §4.5.3.2.1: 5 minutes). */
    greetingTimeoutMs: number;
    /** The reply to the end of data (RFC 5321 §4.5.3.2.6: 10 minutes). */
    dataDoneTimeoutMs: number;
    /** A delay notice once per recipient still undelivered after this long; 0: none. */
    delayNoticeMs: number;
    /** Worker loops in this process (0 = this process only enqueues). */
    workers: number;
    /** Fetch and enforce MTA-STS policies (RFC 8461) on MX deliveries. */
    mtaSts: boolean;
  };
  /** The blob reclaimer and retention (issue 22; lifecycle.ts). */
  lifecycle: LifecycleConfig;
  /** Secret the DKIM private keys are encrypted under; absent: a key file in DATA_DIR (embedded only). */
  dkimEncryptionKey: string | undefined;
  adminToken: string | undefined;
  /** mailctl only: the admin API to go through instead of opening the store. */
  adminUrl: string | undefined;
  /** Create (and print) a demo account on first start. Defaults to on with the embedded database. */
  demoAccount: boolean;
  /** Inbound filtering (issue 21; libs/spam, libs/sieve, services/managesieve). */
  filtering: FilteringConfig;
  /** OAuth, sub-addressing, autoconfiguration, TLS per hostname (identity.ts). */
  identity: IdentityConfig;
}

export interface FilteringConfig {
  /** rspamd's normal worker (/checkv2); undefined = no scanning (the embedded default). */
  rspamdUrl: string | undefined;
  /** rspamd's controller (learnspam/learnham); default: rspamdUrl (a proxy that serves both). */
  rspamdControllerUrl: string | undefined;
  rspamdPassword: string | undefined;
  rspamdTimeoutMs: number;
  /** rspamd down or slow: deliver unscanned (with a header) or answer 451. */
  rspamdUnavailable: "deliver" | "tempfail";
  /** Larger messages are delivered unscanned (rspamd's own default limit is 50 MB). */
  rspamdMaxScanBytes: number;
  /** Act on DMARC p=reject / p=quarantine (RFC 7489 §6.6.4). */
  dmarcEnforce: boolean;
  /** ManageSieve (RFC 5804); undefined = not served. Dev default 14190. */
  manageSievePort: number | undefined;
  sieve: {
    maxScriptBytes: number;
    maxScripts: number;
    /** Redirects one script run may make (and per account per day: 20 times that). */
    maxRedirects: number;
    /** Actions one script run may take before it is stopped as runaway. */
    maxActions: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads and validates the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const variable = String(i.path[0] ?? "?");
        const got = env[variable];
        return {
          variable,
          message: `${i.message}${got !== undefined ? ` (got ${JSON.stringify(got)})` : ""}`,
        };
      }),
    );
  }
  const e = parsed.data;
  const problems: { variable: string; message: string }[] = [];
  const dataDir = resolve(e.DATA_DIR);

  let blobs: Config["blobs"];
  if (e.S3_BUCKET) {
    // S3 bucket names must be DNS-valid (RFC 1035 labels; AWS rules).
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(e.S3_BUCKET)) {
      problems.push({
        variable: "S3_BUCKET",
        message: "expected a DNS-valid bucket name (3-63 of a-z 0-9 . -)",
      });
    }
    blobs = {
      kind: "s3",
      endpoint: e.S3_ENDPOINT,
      bucket: e.S3_BUCKET,
      region: e.S3_REGION,
      // A custom endpoint (MinIO, Ceph, s3rver) almost always wants path-style addressing.
      forcePathStyle: e.S3_FORCE_PATH_STYLE ?? e.S3_ENDPOINT !== undefined,
      ...(e.S3_ACCESS_KEY_ID ? { accessKeyId: e.S3_ACCESS_KEY_ID } : {}),
      ...(e.S3_SECRET_ACCESS_KEY ? { secretAccessKey: e.S3_SECRET_ACCESS_KEY } : {}),
    };
  } else {
    if (e.S3_ENDPOINT) problems.push({ variable: "S3_BUCKET", message: "required when S3_ENDPOINT is set" });
    blobs = { kind: "fs", dir: resolve(e.BLOB_DIR ?? `${dataDir}/blobs`) };
  }

  let tls: Config["tls"];
  if (e.TLS_CERT_FILE || e.TLS_KEY_FILE) {
    if (!e.TLS_CERT_FILE)
      problems.push({ variable: "TLS_CERT_FILE", message: "required when TLS_KEY_FILE is set" });
    if (!e.TLS_KEY_FILE)
      problems.push({ variable: "TLS_KEY_FILE", message: "required when TLS_CERT_FILE is set" });
    tls = { certFile: e.TLS_CERT_FILE ?? "", keyFile: e.TLS_KEY_FILE ?? "" };
  }
  for (const v of ["SMTPS_PORT", "IMAPS_PORT", "POP3S_PORT"] as const) {
    if (e[v] !== undefined && !tls)
      problems.push({ variable: v, message: "needs TLS_CERT_FILE and TLS_KEY_FILE" });
  }
  if (e.SUBMISSIONS_PORT !== undefined && !tls)
    problems.push({ variable: "SUBMISSIONS_PORT", message: "needs TLS_CERT_FILE and TLS_KEY_FILE" });
  if (e.PROXY_TRUSTED_NETWORKS && !e.PROXY_PROTOCOL)
    problems.push({ variable: "PROXY_TRUSTED_NETWORKS", message: "needs PROXY_PROTOCOL=true" });
  problems.push(...protocolLimitProblems(e));
  problems.push(...identityProblems(e, tls !== undefined));
  if (problems.length) throw new ConfigError(problems);

  return {
    services: e.AEROGRAM_SERVICES,
    workers: e.AEROGRAM_WORKERS ?? (e.DATABASE_URL ? availableParallelism() : 1),
    dataDir,
    logLevel: e.LOG_LEVEL,
    hostname: e.MAIL_HOSTNAME,
    bindAddress: e.BIND_ADDRESS,
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      preparedStatements: e.DATABASE_PREPARED_STATEMENTS ?? true,
      embeddedPort: e.EMBEDDED_PG_PORT,
      embeddedDir: `${dataDir}/pg`,
      embeddedStallMs: e.EMBEDDED_PG_STALL_MS,
    },
    blobs,
    blobCacheBytes: e.BLOB_CACHE_BYTES,
    events: e.NATS_URL
      ? { kind: "nats", url: e.NATS_URL, subjectPrefix: e.NATS_SUBJECT_PREFIX }
      : { kind: "memory", subjectPrefix: e.NATS_SUBJECT_PREFIX },
    limits: e.REDIS_URL
      ? { kind: "redis", url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX, slotLeaseMs: e.REDIS_SLOT_LEASE_MS }
      : { kind: "memory", keyPrefix: e.REDIS_KEY_PREFIX },
    ports: {
      smtp: e.SMTP_PORT,
      smtps: e.SMTPS_PORT,
      imap: e.IMAP_PORT,
      imaps: e.IMAPS_PORT,
      pop3: e.POP3_PORT,
      pop3s: e.POP3S_PORT,
      http: e.HTTP_PORT,
    },
    tls,
    imapMaxSessionsPerAccount: e.IMAP_MAX_SESSIONS_PER_ACCOUNT,
    protocolLimits: protocolLimits(e),
    proxyProtocol: e.PROXY_PROTOCOL
      ? e.PROXY_TRUSTED_NETWORKS
        ? { trustedNetworks: e.PROXY_TRUSTED_NETWORKS }
        : {}
      : undefined,
    submission: {
      // 5587 in dev; a process whose SMTP port is "any" (tests, benches) gets any for submission too.
      port: e.SUBMISSION_PORT ?? (e.SMTP_PORT === 0 ? 0 : 5587),
      // The dev default: 4465 when TLS files are set (RFC 8314 implicit TLS needs a certificate).
      securePort: e.SUBMISSIONS_PORT ?? (tls && e.DATABASE_URL === undefined ? 4465 : undefined),
      allowInsecureAuth: e.SUBMISSION_ALLOW_INSECURE_AUTH ?? false,
      maxMessageBytes: e.SUBMISSION_MAX_MESSAGE_BYTES,
      senderPolicy: e.SUBMISSION_SENDER_POLICY,
      inlineQueueMaxBytes: e.SUBMISSION_INLINE_QUEUE_MAX_BYTES,
      limits: {
        messagesPerHour: e.SEND_LIMIT_MESSAGES_PER_HOUR,
        recipientsPerMessage: e.SEND_LIMIT_RECIPIENTS_PER_MESSAGE,
        recipientsPerDay: e.SEND_LIMIT_RECIPIENTS_PER_DAY,
      },
    },
    outbound: {
      routes: e.OUTBOUND_ROUTES,
      retryScheduleMs: e.OUTBOUND_RETRY_SCHEDULE.split(",").map((d) => durationMs(d.trim())),
      maxAgeMs: durationMs(e.OUTBOUND_MAX_AGE),
      concurrency: e.OUTBOUND_CONCURRENCY,
      domainConcurrency: e.OUTBOUND_DOMAIN_CONCURRENCY,
      leaseMs: e.OUTBOUND_LEASE_MS,
      pollMs: e.OUTBOUND_POLL_MS,
      timeoutMs: e.OUTBOUND_TIMEOUT_MS,
      connectTimeoutMs: e.OUTBOUND_CONNECT_TIMEOUT_MS,
      greetingTimeoutMs: e.OUTBOUND_GREETING_TIMEOUT_MS,
      dataDoneTimeoutMs: e.OUTBOUND_DATA_DONE_TIMEOUT_MS,
      delayNoticeMs: durationMs(e.OUTBOUND_DELAY_NOTICE_AFTER),
      workers: e.OUTBOUND_WORKERS,
      mtaSts: e.OUTBOUND_MTA_STS ?? true,
    },
    lifecycle: lifecycleConfig(e),
    dkimEncryptionKey: e.DKIM_ENCRYPTION_KEY,
    adminToken: e.ADMIN_TOKEN,
    adminUrl: e.AEROGRAM_ADMIN_URL,
    demoAccount: e.DEMO_ACCOUNT ?? e.DATABASE_URL === undefined,
    filtering: {
      rspamdUrl: e.RSPAMD_URL,
      rspamdControllerUrl: e.RSPAMD_CONTROLLER_URL ?? e.RSPAMD_URL,
      rspamdPassword: e.RSPAMD_PASSWORD,
      rspamdTimeoutMs: e.RSPAMD_TIMEOUT_MS,
      rspamdUnavailable: e.RSPAMD_UNAVAILABLE,
      rspamdMaxScanBytes: e.RSPAMD_MAX_SCAN_BYTES,
      dmarcEnforce: e.DMARC_ENFORCE ?? true,
      // 14190 in dev (npm start), like submission's 5587; a process whose SMTP port is "any" gets any.
      manageSievePort: e.MANAGESIEVE_PORT ?? (e.SMTP_PORT === 0 ? 0 : 14190),
      sieve: {
        maxScriptBytes: e.SIEVE_MAX_SCRIPT_BYTES,
        maxScripts: e.SIEVE_MAX_SCRIPTS,
        maxRedirects: e.SIEVE_MAX_REDIRECTS,
        maxActions: e.SIEVE_MAX_ACTIONS,
      },
    },
    identity: identityConfig(e, e.MAIL_HOSTNAME),
  };
}

/** The variables loadConfig reads, for the README table and `--help`. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);
