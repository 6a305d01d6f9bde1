import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../src/index.ts";

test("no environment: embedded defaults and dev ports", () => {
  const c = loadConfig({});
  assert.equal(c.database.url, undefined);
  assert.equal(c.blobs.kind, "fs");
  assert.equal(c.events.kind, "memory");
  assert.equal(c.limits.kind, "memory");
  assert.deepEqual([c.ports.smtp, c.ports.imap, c.ports.pop3, c.ports.http], [2525, 1143, 1110, 8080]);
  assert.equal(c.demoAccount, true);
  assert.deepEqual(c.services, [
    "smtp-in",
    "imap",
    "pop3",
    "admin",
    "submission",
    "outbound",
    "managesieve",
    "lifecycle",
  ]);
  assert.equal(c.submission.port, 5587);
  assert.equal(c.submission.securePort, undefined, "no implicit TLS without a certificate");
  assert.match(c.database.embeddedDir, /data\/pg$/);
  assert.equal(c.database.embeddedStallMs, 10_000);
  assert.equal(loadConfig({ EMBEDDED_PG_STALL_MS: "2500" }).database.embeddedStallMs, 2500);
  assert.throws(() => loadConfig({ EMBEDDED_PG_STALL_MS: "0" }), /EMBEDDED_PG_STALL_MS/);
  assert.equal(c.imapMaxSessionsPerAccount, 20);
});

test("each variable switches its part to the real server", () => {
  const c = loadConfig({
    DATABASE_URL: "postgres://u@db:5432/mail",
    S3_ENDPOINT: "http://minio:9000",
    S3_BUCKET: "aerogram-mail",
    NATS_URL: "nats://nats:4222",
    REDIS_URL: "redis://redis:6379",
    AEROGRAM_SERVICES: "imap,pop3",
    IMAP_PORT: "143",
    IMAP_MAX_SESSIONS_PER_ACCOUNT: "64",
  });
  assert.equal(c.database.url, "postgres://u@db:5432/mail");
  assert.deepEqual(c.blobs, {
    kind: "s3",
    endpoint: "http://minio:9000",
    bucket: "aerogram-mail",
    region: "us-east-1",
    forcePathStyle: true,
  });
  assert.deepEqual(c.events, { kind: "nats", url: "nats://nats:4222", subjectPrefix: "aerogram" });
  assert.equal(c.limits.kind, "redis");
  assert.deepEqual(c.services, ["imap", "pop3"]);
  assert.equal(c.ports.imap, 143);
  assert.equal(c.imapMaxSessionsPerAccount, 64);
  assert.equal(c.demoAccount, false, "no demo account on a real database unless asked");
});

test("a wrong value fails naming the variable and what is expected", () => {
  const bad = (env: Record<string, string>, variable: string, expected: RegExp) => {
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const p = err.problems.find((x) => x.variable === variable);
        assert.ok(p, `a problem for ${variable} in ${err.message}`);
        assert.match(p.message, expected);
        assert.match(err.message, new RegExp(`^  ${variable}: `, "m"));
        return true;
      },
    );
  };
  bad({ IMAP_PORT: "abc" }, "IMAP_PORT", /port/);
  bad({ IMAP_PORT: "70000" }, "IMAP_PORT", /65535/);
  bad({ IMAP_MAX_SESSIONS_PER_ACCOUNT: "0" }, "IMAP_MAX_SESSIONS_PER_ACCOUNT", /./);
  bad({ DATABASE_URL: "mysql://x" }, "DATABASE_URL", /postgres:\/\//);
  bad({ DATABASE_URL: "not a url" }, "DATABASE_URL", /URL/);
  bad({ S3_ENDPOINT: "http://s3" }, "S3_BUCKET", /required/);
  bad({ S3_BUCKET: "Bad_Bucket" }, "S3_BUCKET", /DNS-valid/);
  bad({ AEROGRAM_SERVICES: "imap,webmail" }, "AEROGRAM_SERVICES", /smtp-in, imap, pop3, admin/);
  bad({ LOG_LEVEL: "loud" }, "LOG_LEVEL", /info/);
  bad({ IMAPS_PORT: "993" }, "IMAPS_PORT", /TLS_CERT_FILE/);
  bad({ DEMO_ACCOUNT: "maybe" }, "DEMO_ACCOUNT", /true or false/);
  bad({ NATS_SUBJECT_PREFIX: "a.*" }, "NATS_SUBJECT_PREFIX", /dot-separated/);
});

test("several problems are reported together", () => {
  try {
    loadConfig({ IMAP_PORT: "x", POP3_PORT: "-1" });
    assert.fail("expected ConfigError");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems.map((p) => p.variable).sort(), ["IMAP_PORT", "POP3_PORT"]);
  }
});

test("PROXY protocol: off by default, on with an optional trusted-network list", () => {
  assert.equal(loadConfig({}).proxyProtocol, undefined);
  assert.equal(loadConfig({ PROXY_PROTOCOL: "false" }).proxyProtocol, undefined);
  assert.deepEqual(loadConfig({ PROXY_PROTOCOL: "true" }).proxyProtocol, {});
  assert.deepEqual(
    loadConfig({ PROXY_PROTOCOL: "1", PROXY_TRUSTED_NETWORKS: " 10.0.0.0/8, fd00::/8,192.168.1.7 ," })
      .proxyProtocol,
    { trustedNetworks: ["10.0.0.0/8", "fd00::/8", "192.168.1.7"] },
  );
});

test("PROXY protocol: bad values name the variable", () => {
  const problem = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems[0];
    }
    assert.fail("expected ConfigError");
  };
  assert.equal(problem({ PROXY_PROTOCOL: "sometimes" })?.variable, "PROXY_PROTOCOL");
  for (const bad of ["10.0.0.0/33", "300.1.1.1", "example.com", "fd00::/129"]) {
    const p = problem({ PROXY_PROTOCOL: "true", PROXY_TRUSTED_NETWORKS: bad });
    assert.equal(p?.variable, "PROXY_TRUSTED_NETWORKS", bad);
    assert.match(p?.message ?? "", /CIDR/);
  }
  assert.match(problem({ PROXY_TRUSTED_NETWORKS: "10.0.0.0/8" })?.message ?? "", /PROXY_PROTOCOL=true/);
});

test("AEROGRAM_WORKERS: 1 on the embedded database, the cores with DATABASE_URL, or as set", () => {
  assert.equal(loadConfig({}).workers, 1);
  assert.equal(loadConfig({ DATABASE_URL: "postgres://u@db/mail" }).workers, availableParallelism());
  assert.equal(loadConfig({ AEROGRAM_WORKERS: "3" }).workers, 3);
  assert.equal(loadConfig({ DATABASE_URL: "postgres://u@db/mail", AEROGRAM_WORKERS: "1" }).workers, 1);
  for (const bad of ["0", "-2", "1.5", "many"]) {
    assert.throws(
      () => loadConfig({ AEROGRAM_WORKERS: bad }),
      (err: unknown) => err instanceof ConfigError && err.message.includes("AEROGRAM_WORKERS"),
      bad,
    );
  }
});

test("submission and outbound: dev ports, limits, retry schedule and their validation", () => {
  const tls = { TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem" };
  assert.equal(loadConfig(tls).submission.securePort, 4465, "embedded dev: 4465 with TLS files");
  assert.equal(
    loadConfig({ SMTP_PORT: "0" }).submission.port,
    0,
    "tests that take any port take any here too",
  );
  const c = loadConfig({
    SUBMISSION_PORT: "587",
    SUBMISSIONS_PORT: "465",
    ...tls,
    SEND_LIMIT_MESSAGES_PER_HOUR: "7",
    SUBMISSION_SENDER_POLICY: "domain",
    OUTBOUND_RETRY_SCHEDULE: "30s, 5m,2h,1d",
    OUTBOUND_MAX_AGE: "3d",
    OUTBOUND_ROUTES: "*=smarthost.example:587",
    OUTBOUND_MTA_STS: "false",
  });
  assert.deepEqual([c.submission.port, c.submission.securePort], [587, 465]);
  assert.equal(c.submission.limits.messagesPerHour, 7);
  assert.equal(c.submission.senderPolicy, "domain");
  assert.deepEqual(c.outbound.retryScheduleMs, [30_000, 300_000, 7_200_000, 86_400_000]);
  assert.equal(c.outbound.maxAgeMs, 3 * 86_400_000);
  assert.equal(c.outbound.routes, "*=smarthost.example:587");
  assert.equal(c.outbound.mtaSts, false);
  assert.equal(loadConfig({}).outbound.mtaSts, true);
  assert.throws(() => loadConfig({ SUBMISSIONS_PORT: "465" }), /SUBMISSIONS_PORT: needs TLS_CERT_FILE/);
  assert.throws(
    () => loadConfig({ OUTBOUND_RETRY_SCHEDULE: "soon" }),
    /OUTBOUND_RETRY_SCHEDULE: expected a comma list of durations/,
  );
  assert.throws(() => loadConfig({ SUBMISSION_SENDER_POLICY: "anyone" }), /SUBMISSION_SENDER_POLICY/);
  assert.equal(loadConfig({}).submission.inlineQueueMaxBytes, 65_536);
  assert.equal(loadConfig({ SUBMISSION_INLINE_QUEUE_MAX_BYTES: "0" }).submission.inlineQueueMaxBytes, 0);
  assert.throws(
    () => loadConfig({ SUBMISSION_INLINE_QUEUE_MAX_BYTES: "2000000" }),
    /SUBMISSION_INLINE_QUEUE_MAX_BYTES: at most 1048576/,
  );
  assert.throws(() => loadConfig({ AEROGRAM_SERVICES: "smtp-in,mta" }), /AEROGRAM_SERVICES/);
  assert.deepEqual(loadConfig({ AEROGRAM_SERVICES: "submission,outbound" }).services, [
    "submission",
    "outbound",
  ]);
});

test("lifecycle: reclaim grace and retention defaults", () => {
  const c = loadConfig({});
  assert.deepEqual(c.lifecycle.blobReclaim, { graceMs: 3_600_000, intervalMs: 60_000, batch: 100 });
  assert.deepEqual(c.lifecycle.retention.defaults, []);
  const set = loadConfig({ BLOB_RECLAIM_GRACE: "2h", RETENTION_DEFAULTS: "\\Trash=30, Spam = 7" });
  assert.equal(set.lifecycle.blobReclaim.graceMs, 7_200_000);
  assert.deepEqual(set.lifecycle.retention.defaults, [
    { mailbox: "\\Trash", days: 30 },
    { mailbox: "Spam", days: 7 },
  ]);
  assert.throws(() => loadConfig({ RETENTION_DEFAULTS: "Trash" }), ConfigError);
});
