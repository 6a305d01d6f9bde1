/**
 * The limits an operator may need to change, per protocol: abuse limits (SMTP
 * connections and message rates per client IP, login back-off), sizes and
 * timeouts (SMTP, IMAP, POP3). Each is one environment variable with the default the services
 * had compiled in; the README's configuration table and the Helm chart's
 * `limits:` values list the same names. What a client sees when one trips,
 * and the metric that counts it, is in the services' READMEs.
 *
 * Kept apart from index.ts so the protocol limits grow here without every
 * branch editing the one schema.
 */
import { z } from "zod";

/**
 * A whole number ≥ min, with its default. Empty counts as unset: a blank Helm
 * value must not turn into 0, which means "no limit" for the SMTP rates.
 */
const whole = (def: number, min: number, hint: string) =>
  z.preprocess(
    (v) => (typeof v === "string" && v.trim() === "" ? undefined : v),
    z.coerce
      .number({ error: "expected a number" })
      .int("expected a whole number")
      .min(min, `expected ${hint}`)
      .max(Number.MAX_SAFE_INTEGER, "expected a smaller number")
      .default(def),
  );

const MINUTE = 60_000;

/** The variables, their validation and defaults. */
export const protocolLimitsSchema = {
  // ---- SMTP-in (services/smtp-in: rate-limits.ts, options.ts, deadlines.ts) ----
  SMTP_MAX_CONNECTIONS_PER_IP: whole(50, 0, "a whole number ≥ 0 (0 = no limit)"),
  SMTP_MESSAGES_PER_MINUTE_PER_IP: whole(600, 0, "a whole number ≥ 0 (0 = no limit)"),
  SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT: whole(300, 0, "a whole number ≥ 0 (0 = no limit)"),
  SMTP_RECIPIENT_BUDGET_MAX: whole(16, 0, "a whole number ≥ 0 (0 or 1 = never take ahead)"),
  SMTP_MAX_MESSAGE_BYTES: whole(50 * 1024 * 1024, 1024, "at least 1024 octets"),
  // RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients.
  SMTP_MAX_RECIPIENTS: whole(1000, 100, "at least 100 (RFC 5321 §4.5.3.1.8)"),
  SMTP_MAX_LINE_OCTETS: whole(1000, 0, "0 (no limit) or at least 1000 (RFC 5321 §4.5.3.1.6)"),
  SMTP_IDLE_TIMEOUT_MS: whole(5 * MINUTE, 1, "a positive number of milliseconds"),
  SMTP_COMMAND_DEADLINE_MS: whole(5 * MINUTE, 1, "a positive number of milliseconds"),
  SMTP_DATA_DEADLINE_MS: whole(10 * MINUTE, 1, "a positive number of milliseconds"),
  SMTP_DATA_MIN_BYTES_PER_SECOND: whole(4096, 1, "a positive number of octets"),
  SMTP_AUTH_CHECK_TIMEOUT_MS: whole(3000, 1, "a positive number of milliseconds"),
  SMTP_AUTH_CACHE_MS: whole(10_000, 0, "a whole number of milliseconds ≥ 0 (0 = off)"),
  SMTP_DEDUPE_WINDOW_SECONDS: whole(24 * 3600, 1, "a positive number of seconds"),
  SMTP_SPOOL_MEMORY_BYTES: whole(1024 * 1024, 0, "a whole number of octets ≥ 0"),
  SMTP_RECIPIENT_CACHE_MS: whole(5000, 0, "a whole number of milliseconds ≥ 0 (0 = off)"),
  SMTP_GREETING_DELAY_MS: whole(0, 0, "a whole number of milliseconds ≥ 0"),

  // ---- logins, IMAP and POP3 alike (libs/auth) ----
  AUTH_FREE_FAILURES: whole(5, 1, "a whole number ≥ 1"),
  AUTH_FAILURE_WINDOW_MS: whole(15 * MINUTE, 1000, "at least 1000 milliseconds"),
  AUTH_BASE_BACKOFF_MS: whole(1000, 1, "a positive number of milliseconds"),
  AUTH_MAX_BACKOFF_MS: whole(5 * MINUTE, 1, "a positive number of milliseconds"),

  // ---- IMAP (services/imap) ----
  IMAP_APPEND_LIMIT_BYTES: whole(64 * 1024 * 1024, 1024, "at least 1024 octets"),
  // RFC 9051 §5.4: an autologout timer of at least 30 minutes.
  IMAP_AUTOLOGOUT_MS: whole(30 * MINUTE, 1, "a positive number of milliseconds"),
  IMAP_PREAUTH_IDLE_MS: whole(2 * MINUTE, 1, "a positive number of milliseconds"),
  IMAP_LOGIN_DEADLINE_MS: whole(5 * MINUTE, 1, "a positive number of milliseconds"),
  // imap-steady (issue 17): how long a read of a mailbox's HIGHESTMODSEQ lets commands skip the change check.
  IMAP_HEAD_MAX_STALE_MS: whole(
    1000,
    0,
    "a whole number of milliseconds ≥ 0 (0: check before every command)",
  ),
  // 1 (default): STORE/EXPUNGE wait for the WAL flush like every write. 0: they don't, as
  // Dovecot's mail_fsync=optimized: a PostgreSQL crash may lose the last ~0.6 s of acknowledged
  // flag changes and expunges (never a message), and then a MODSEQ is handed out twice, so a
  // connected client can miss a later change (RFC 7162 §3.1 asks MODSEQ to only grow; the chaos
  // mixed-outages test caught it). services/imap README, "Writes in one round trip".
  IMAP_DURABLE_FLAG_WRITES: whole(1, 0, "0 or 1"),
  // imap-steady (issue 17): the immutable part of FETCH rows kept in memory per process.
  IMAP_MESSAGE_CACHE_BYTES: whole(32 * 1024 * 1024, 0, "a whole number of octets ≥ 0 (0: no cache)"),
  // ---- IMAP idle sessions (services/imap hibernate.ts, server.ts poll) ----
  IMAP_HIBERNATE_AFTER_MS: whole(10_000, 0, "a whole number of milliseconds ≥ 0 (0 = never hibernate)"),
  IMAP_IDLE_POLL_MS: whole(500, 50, "at least 50 milliseconds"),

  // ---- search index (libs/delivery search-index.ts, search-index-worker.ts; issue 20) ----
  SEARCH_INDEX_MAX_TEXT_CHARS: whole(1024 * 1024, 1024, "at least 1024 characters"),
  SEARCH_INDEX_BATCH: whole(500, 0, "a whole number ≥ 0 (0 = no background indexer)"),
  SEARCH_INDEX_PAUSE_MS: whole(20, 0, "a whole number of milliseconds ≥ 0"),
  SEARCH_INDEX_POLL_MS: whole(1000, 10, "at least 10 milliseconds"),
  SEARCH_INDEX_SHARDS: whole(4, 1, "a whole number ≥ 1"),

  // ---- POP3 (services/pop3) ----
  // RFC 1939 §3: an autologout timer of at least 10 minutes.
  POP3_IDLE_TIMEOUT_MS: whole(10 * MINUTE, 1, "a positive number of milliseconds"),
  // A login remembered per (IP, name) lets that pair's next USER read the snapshot too (0 entries: off).
  POP3_RECENT_LOGIN_TTL_MS: whole(15 * MINUTE, 1, "a positive number of milliseconds"),
  POP3_RECENT_LOGIN_ENTRIES: whole(20_000, 0, "a whole number ≥ 0 (0 = remember none)"),
} as const;

type Parsed = { [K in keyof typeof protocolLimitsSchema]: number };

export interface SmtpLimits {
  /** Concurrent connections from one client IP across the cluster; 0 = no limit. 421 4.7.0 beyond. */
  maxConnectionsPerIp: number;
  /** Messages (MAIL FROM) per minute from one client IP; 0 = no limit. 451 4.7.1 beyond. */
  messagesPerMinutePerIp: number;
  /** Messages per minute to one account; 0 = no limit. 451 4.7.1 for that recipient beyond. */
  messagesPerMinutePerRecipient: number;
  /** Per-recipient tokens one process may take from the limiter ahead and spend locally for up to 1 s (also at most 5% of the bucket); 0 or 1 = one round trip per recipient. */
  recipientBudgetMax: number;
  /** SIZE (RFC 1870); larger messages get 552 5.3.4. */
  maxMessageBytes: number;
  /** Recipients per transaction; beyond: 452 4.5.3. */
  maxRecipients: number;
  /** Longest DATA line with CRLF; 0 = no limit. 500 5.5.2 beyond. */
  maxLineOctets: number;
  /** Idle timeout, restarted by every byte (RFC 5321 §4.5.3.2.7: at least 5 minutes). */
  idleTimeoutMs: number;
  /** A whole command line within this long of the reply before it. */
  commandDeadlineMs: number;
  /** The floor of a whole DATA transfer (RFC 5321 §4.5.3.2.6: 10 minutes). */
  dataDeadlineMs: number;
  /** Each this many message octets add one second to the DATA deadline. */
  dataMinBytesPerSecond: number;
  /** Upper bound for the SPF/DKIM/DMARC checks of one message. */
  authCheckTimeoutMs: number;
  /** How long an unsigned message's SPF/DKIM/DMARC verdicts are reused for the same client, envelope and From:; 0 = off. */
  authCacheMs: number;
  /** How long a retried message is recognised as already delivered. */
  dedupeWindowSeconds: number;
  /** Message octets kept in memory while receiving; the rest spills to a temp file. */
  spoolMemoryBytes: number;
  /** How long RCPT TO reuses an account found for an address (the RCPT lookup's round trip); 0 = off. */
  recipientCacheMs: number;
  /** How long the 220 greeting waits to catch a client talking first ("421 You talk too soon"); 0 = greet at once. */
  greetingDelayMs: number;
}

export interface AuthLimits {
  /** Failed logins per IP (and per login name) within the window before back-off starts. */
  freeFailures: number;
  failureWindowMs: number;
  /** First back-off after the free failures; doubles with each further failure up to maxBackoffMs. */
  baseBackoffMs: number;
  maxBackoffMs: number;
}

export interface ImapLimits {
  /** APPENDLIMIT (RFC 7889) and the largest literal: bigger uploads get NO [TOOBIG] before any byte is read. */
  appendLimitBytes: number;
  /** Autologout of an authenticated session without a command (RFC 9051 §5.4: at least 30 minutes). */
  autologoutMs: number;
  /** A connection silent this long before login is closed. */
  preauthIdleMs: number;
  /** Total time to log in, however busy the connection is (slowloris). */
  loginDeadlineMs: number;
  /**
   * A command in a mailbox no wake-up said changed skips the change check for
   * this long after a read saw its HIGHESTMODSEQ (the bound on an update a lost
   * event delays); 0 checks before every command.
   */
  headMaxStaleMs: number;
  /** Memory per process for the immutable part of FETCH rows (ENVELOPE, BODYSTRUCTURE, MIME index…); 0: none. */
  messageCacheBytes: number;
  /** An IDLE this long with nothing pending hibernates to a compact record (hibernate.ts); 0 = never. */
  hibernateAfterMs: number;
  /** Poll tick for idlers while the bus is down or recovering: one HIGHESTMODSEQ query per gateway per tick. */
  idlePollMs: number;
  /**
   * Flag changes (STORE, FETCH's \Seen) and expunges wait for the WAL flush
   * before the tagged OK; false: they commit asynchronously (a database crash
   * may lose the last ~0.6 s of them; message data always waits).
   */
  durableFlagWrites: boolean;
}

export interface SearchLimits {
  /** Body text indexed per message (characters); past it the message is also scanned when searched. */
  maxTextChars: number;
  /** Messages the background indexer writes per batch (0: no indexer; unindexed messages are scanned). */
  indexBatch: number;
  /** Pause between two of its batches while a backlog lasts (the throttle). */
  indexPauseMs: number;
  /** How often an idle indexer looks for new messages (the lag's bound). */
  indexPollMs: number;
  /** Mailbox shards of the indexer, each under one replica's lease at a time. */
  indexShards: number;
}

export interface Pop3Limits {
  /** Autologout of an idle session (RFC 1939 §3: at least 10 minutes). */
  idleTimeoutMs: number;
  /** How long a good login lets the same (IP, name)'s next USER read the INBOX snapshot with the credentials. */
  recentLoginTtlMs: number;
  /** (IP, name) pairs remembered so, per process (about 100 bytes each); 0: none. */
  recentLoginEntries: number;
}

export interface ProtocolLimits {
  smtp: SmtpLimits;
  auth: AuthLimits;
  imap: ImapLimits;
  pop3: Pop3Limits;
  search: SearchLimits;
}

/** Cross-variable checks: problems naming the variable. */
export function protocolLimitProblems(e: Parsed): { variable: string; message: string }[] {
  const problems: { variable: string; message: string }[] = [];
  if (e.SMTP_MAX_LINE_OCTETS !== 0 && e.SMTP_MAX_LINE_OCTETS < 1000)
    problems.push({
      variable: "SMTP_MAX_LINE_OCTETS",
      message: `expected 0 (no limit) or at least 1000 (RFC 5321 §4.5.3.1.6) (got ${e.SMTP_MAX_LINE_OCTETS})`,
    });
  if (e.IMAP_DURABLE_FLAG_WRITES > 1)
    problems.push({
      variable: "IMAP_DURABLE_FLAG_WRITES",
      message: `expected 0 or 1 (got ${e.IMAP_DURABLE_FLAG_WRITES})`,
    });
  if (e.AUTH_MAX_BACKOFF_MS < e.AUTH_BASE_BACKOFF_MS)
    problems.push({
      variable: "AUTH_MAX_BACKOFF_MS",
      message: `expected at least AUTH_BASE_BACKOFF_MS (${e.AUTH_BASE_BACKOFF_MS})`,
    });
  return problems;
}

export function protocolLimits(e: Parsed): ProtocolLimits {
  return {
    smtp: {
      maxConnectionsPerIp: e.SMTP_MAX_CONNECTIONS_PER_IP,
      messagesPerMinutePerIp: e.SMTP_MESSAGES_PER_MINUTE_PER_IP,
      messagesPerMinutePerRecipient: e.SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT,
      recipientBudgetMax: e.SMTP_RECIPIENT_BUDGET_MAX,
      maxMessageBytes: e.SMTP_MAX_MESSAGE_BYTES,
      maxRecipients: e.SMTP_MAX_RECIPIENTS,
      maxLineOctets: e.SMTP_MAX_LINE_OCTETS,
      idleTimeoutMs: e.SMTP_IDLE_TIMEOUT_MS,
      commandDeadlineMs: e.SMTP_COMMAND_DEADLINE_MS,
      dataDeadlineMs: e.SMTP_DATA_DEADLINE_MS,
      dataMinBytesPerSecond: e.SMTP_DATA_MIN_BYTES_PER_SECOND,
      authCheckTimeoutMs: e.SMTP_AUTH_CHECK_TIMEOUT_MS,
      authCacheMs: e.SMTP_AUTH_CACHE_MS,
      dedupeWindowSeconds: e.SMTP_DEDUPE_WINDOW_SECONDS,
      spoolMemoryBytes: e.SMTP_SPOOL_MEMORY_BYTES,
      recipientCacheMs: e.SMTP_RECIPIENT_CACHE_MS,
      greetingDelayMs: e.SMTP_GREETING_DELAY_MS,
    },
    auth: {
      freeFailures: e.AUTH_FREE_FAILURES,
      failureWindowMs: e.AUTH_FAILURE_WINDOW_MS,
      baseBackoffMs: e.AUTH_BASE_BACKOFF_MS,
      maxBackoffMs: e.AUTH_MAX_BACKOFF_MS,
    },
    imap: {
      appendLimitBytes: e.IMAP_APPEND_LIMIT_BYTES,
      autologoutMs: e.IMAP_AUTOLOGOUT_MS,
      preauthIdleMs: e.IMAP_PREAUTH_IDLE_MS,
      loginDeadlineMs: e.IMAP_LOGIN_DEADLINE_MS,
      headMaxStaleMs: e.IMAP_HEAD_MAX_STALE_MS,
      messageCacheBytes: e.IMAP_MESSAGE_CACHE_BYTES,
      hibernateAfterMs: e.IMAP_HIBERNATE_AFTER_MS,
      idlePollMs: e.IMAP_IDLE_POLL_MS,
      durableFlagWrites: e.IMAP_DURABLE_FLAG_WRITES > 0,
    },
    pop3: {
      idleTimeoutMs: e.POP3_IDLE_TIMEOUT_MS,
      recentLoginTtlMs: e.POP3_RECENT_LOGIN_TTL_MS,
      recentLoginEntries: e.POP3_RECENT_LOGIN_ENTRIES,
    },
    search: {
      maxTextChars: e.SEARCH_INDEX_MAX_TEXT_CHARS,
      indexBatch: e.SEARCH_INDEX_BATCH,
      indexPauseMs: e.SEARCH_INDEX_PAUSE_MS,
      indexPollMs: e.SEARCH_INDEX_POLL_MS,
      indexShards: e.SEARCH_INDEX_SHARDS,
    },
  };
}

/** The protocol-limit variables, for the README table, the Helm chart test and `--help`. */
export const PROTOCOL_LIMIT_VARIABLES = Object.keys(protocolLimitsSchema);
