import assert from "node:assert/strict";
import { test } from "node:test";
import { CONFIG_VARIABLES, ConfigError, loadConfig, PROTOCOL_LIMIT_VARIABLES } from "../src/index.ts";

/** The problems loadConfig reports for `env`, by variable. */
function problems(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return Object.fromEntries(err.problems.map((p) => [p.variable, p.message]));
  }
  return {};
}

test("protocol limits: the defaults are the values the services had compiled in", () => {
  const l = loadConfig({}).protocolLimits;
  assert.deepEqual(l.smtp, {
    maxConnectionsPerIp: 50,
    messagesPerMinutePerIp: 600,
    messagesPerMinutePerRecipient: 300,
    recipientBudgetMax: 16,
    maxMessageBytes: 50 * 1024 * 1024,
    maxRecipients: 1000,
    maxLineOctets: 1000,
    idleTimeoutMs: 300_000,
    commandDeadlineMs: 300_000,
    dataDeadlineMs: 600_000,
    dataMinBytesPerSecond: 4096,
    authCheckTimeoutMs: 3000,
    authCacheMs: 10_000,
    dedupeWindowSeconds: 86_400,
    spoolMemoryBytes: 1024 * 1024,
    recipientCacheMs: 5000,
    greetingDelayMs: 0,
  });
  assert.deepEqual(l.auth, {
    freeFailures: 5,
    failureWindowMs: 900_000,
    baseBackoffMs: 1000,
    maxBackoffMs: 300_000,
  });
  assert.deepEqual(l.imap, {
    appendLimitBytes: 64 * 1024 * 1024,
    autologoutMs: 1_800_000,
    preauthIdleMs: 120_000,
    loginDeadlineMs: 300_000,
    headMaxStaleMs: 1000,
    messageCacheBytes: 32 * 1024 * 1024,
    durableFlagWrites: true,
    hibernateAfterMs: 10_000,
    idlePollMs: 500,
  });
  assert.deepEqual(l.pop3, { idleTimeoutMs: 600_000, recentLoginTtlMs: 900_000, recentLoginEntries: 20_000 });
  // Empty is unset (a blank Helm value), not 0 = no limit.
  assert.equal(loadConfig({ SMTP_MAX_CONNECTIONS_PER_IP: "" }).protocolLimits.smtp.maxConnectionsPerIp, 50);
  for (const v of PROTOCOL_LIMIT_VARIABLES) assert.ok(CONFIG_VARIABLES.includes(v), `${v} is read`);
});

test("protocol limits: each variable sets its limit; 0 turns the SMTP rates off", () => {
  const l = loadConfig({
    SMTP_MAX_CONNECTIONS_PER_IP: "0",
    SMTP_MESSAGES_PER_MINUTE_PER_IP: "0",
    SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT: "1200",
    SMTP_RECIPIENT_BUDGET_MAX: "4",
    SMTP_MAX_MESSAGE_BYTES: "104857600",
    SMTP_MAX_RECIPIENTS: "100",
    SMTP_MAX_LINE_OCTETS: "0",
    SMTP_IDLE_TIMEOUT_MS: "600000",
    SMTP_COMMAND_DEADLINE_MS: "120000",
    SMTP_DATA_DEADLINE_MS: "1200000",
    SMTP_DATA_MIN_BYTES_PER_SECOND: "1024",
    SMTP_AUTH_CHECK_TIMEOUT_MS: "5000",
    SMTP_AUTH_CACHE_MS: "0",
    SMTP_DEDUPE_WINDOW_SECONDS: "3600",
    SMTP_SPOOL_MEMORY_BYTES: "0",
    SMTP_RECIPIENT_CACHE_MS: "0",
    SMTP_GREETING_DELAY_MS: "250",
    AUTH_FREE_FAILURES: "10",
    AUTH_FAILURE_WINDOW_MS: "60000",
    AUTH_BASE_BACKOFF_MS: "500",
    AUTH_MAX_BACKOFF_MS: "60000",
    IMAP_APPEND_LIMIT_BYTES: "1048576",
    IMAP_AUTOLOGOUT_MS: "3600000",
    IMAP_PREAUTH_IDLE_MS: "30000",
    IMAP_LOGIN_DEADLINE_MS: "60000",
    IMAP_HEAD_MAX_STALE_MS: "0",
    IMAP_MESSAGE_CACHE_BYTES: "0",
    IMAP_DURABLE_FLAG_WRITES: "0",
    IMAP_HIBERNATE_AFTER_MS: "0",
    IMAP_IDLE_POLL_MS: "250",
    POP3_IDLE_TIMEOUT_MS: "1800000",
    POP3_RECENT_LOGIN_TTL_MS: "60000",
    POP3_RECENT_LOGIN_ENTRIES: "0",
  }).protocolLimits;
  assert.deepEqual(l.smtp, {
    maxConnectionsPerIp: 0,
    messagesPerMinutePerIp: 0,
    messagesPerMinutePerRecipient: 1200,
    recipientBudgetMax: 4,
    maxMessageBytes: 104_857_600,
    maxRecipients: 100,
    maxLineOctets: 0,
    idleTimeoutMs: 600_000,
    commandDeadlineMs: 120_000,
    dataDeadlineMs: 1_200_000,
    dataMinBytesPerSecond: 1024,
    authCheckTimeoutMs: 5000,
    authCacheMs: 0,
    dedupeWindowSeconds: 3600,
    spoolMemoryBytes: 0,
    recipientCacheMs: 0,
    greetingDelayMs: 250,
  });
  assert.deepEqual(l.auth, {
    freeFailures: 10,
    failureWindowMs: 60_000,
    baseBackoffMs: 500,
    maxBackoffMs: 60_000,
  });
  assert.deepEqual(l.imap, {
    appendLimitBytes: 1_048_576,
    autologoutMs: 3_600_000,
    preauthIdleMs: 30_000,
    loginDeadlineMs: 60_000,
    headMaxStaleMs: 0,
    messageCacheBytes: 0,
    durableFlagWrites: false,
    hibernateAfterMs: 0,
    idlePollMs: 250,
  });
  assert.deepEqual(l.pop3, { idleTimeoutMs: 1_800_000, recentLoginTtlMs: 60_000, recentLoginEntries: 0 });
});

test("protocol limits: a wrong value is refused naming the variable and what it expects", () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ SMTP_MAX_CONNECTIONS_PER_IP: "-1" }, "SMTP_MAX_CONNECTIONS_PER_IP", /≥ 0 \(0 = no limit\).*"-1"/],
    [{ SMTP_MESSAGES_PER_MINUTE_PER_IP: "lots" }, "SMTP_MESSAGES_PER_MINUTE_PER_IP", /expected a number/],
    [{ SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT: "2.5" }, "SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT", /whole/],
    [{ SMTP_MAX_RECIPIENTS: "50" }, "SMTP_MAX_RECIPIENTS", /at least 100 \(RFC 5321/],
    [{ SMTP_MAX_LINE_OCTETS: "500" }, "SMTP_MAX_LINE_OCTETS", /0 \(no limit\) or at least 1000/],
    [{ SMTP_MAX_MESSAGE_BYTES: "100" }, "SMTP_MAX_MESSAGE_BYTES", /at least 1024/],
    [{ SMTP_IDLE_TIMEOUT_MS: "0" }, "SMTP_IDLE_TIMEOUT_MS", /positive/],
    [{ AUTH_FREE_FAILURES: "0" }, "AUTH_FREE_FAILURES", /≥ 1/],
    [
      { AUTH_BASE_BACKOFF_MS: "5000", AUTH_MAX_BACKOFF_MS: "1000" },
      "AUTH_MAX_BACKOFF_MS",
      /AUTH_BASE_BACKOFF_MS/,
    ],
    [{ IMAP_APPEND_LIMIT_BYTES: "10" }, "IMAP_APPEND_LIMIT_BYTES", /at least 1024/],
    [{ IMAP_AUTOLOGOUT_MS: "-5" }, "IMAP_AUTOLOGOUT_MS", /positive/],
    [{ POP3_IDLE_TIMEOUT_MS: "1e99" }, "POP3_IDLE_TIMEOUT_MS", /smaller|whole/],
    [{ POP3_RECENT_LOGIN_TTL_MS: "0" }, "POP3_RECENT_LOGIN_TTL_MS", /positive/],
    [{ POP3_RECENT_LOGIN_ENTRIES: "-1" }, "POP3_RECENT_LOGIN_ENTRIES", /≥ 0/],
  ];
  for (const [env, variable, expected] of cases) {
    const found = problems(env);
    assert.ok(
      found[variable],
      `${JSON.stringify(env)}: a problem for ${variable}, got ${JSON.stringify(found)}`,
    );
    assert.match(found[variable]!, expected);
  }
  // Several bad limits at once are reported together.
  assert.deepEqual(
    Object.keys(problems({ SMTP_MAX_RECIPIENTS: "1", SMTP_MAX_CONNECTIONS_PER_IP: "x" })).sort(),
    ["SMTP_MAX_CONNECTIONS_PER_IP", "SMTP_MAX_RECIPIENTS"],
  );
});
