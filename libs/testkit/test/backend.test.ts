/**
 * The harness itself: both database kinds give a working runtime on their own
 * database, the environment block names every part, and a private Dovecot
 * answers IMAP and POP3 logins from its passwd-file.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import {
  backendEnv,
  dovecotUnavailable,
  requireServers,
  startPrivateDovecot,
  startTestBackend,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TextClient,
  testDatabaseKind,
} from "../src/index.ts";

test("backendEnv: every part, unique prefixes, settings win", () => {
  const s3 = {
    endpoint: "http://127.0.0.1:9",
    bucket: "b",
    region: "r",
    accessKeyId: "k",
    secretAccessKey: "s",
  };
  const a = backendEnv({ databaseUrl: "postgres://x/db", s3, nats: true, settings: { LOG_LEVEL: "warn" } });
  const b = backendEnv({ databaseUrl: "postgres://x/db", dataDir: "/tmp/d", redis: "redis://127.0.0.1:1" });
  assert.equal(a.DATABASE_URL, "postgres://x/db");
  assert.equal(a.S3_BUCKET, "b");
  assert.equal(a.NATS_URL, TEST_NATS_URL);
  assert.equal(a.REDIS_URL, undefined);
  assert.equal(a.LOG_LEVEL, "warn");
  assert.equal(b.BLOB_DIR, "/tmp/d/blobs");
  assert.equal(b.REDIS_URL, "redis://127.0.0.1:1");
  assert.notEqual(a.NATS_SUBJECT_PREFIX, b.NATS_SUBJECT_PREFIX);
  assert.notEqual(a.REDIS_KEY_PREFIX, b.REDIS_KEY_PREFIX);
});

test("TEST_DATABASE selects the default kind and rejects anything else", () => {
  const before = process.env.TEST_DATABASE;
  try {
    delete process.env.TEST_DATABASE;
    assert.equal(testDatabaseKind(), "postgres");
    process.env.TEST_DATABASE = "embedded";
    assert.equal(testDatabaseKind(), "embedded");
    process.env.TEST_DATABASE = "sqlite";
    assert.throws(() => testDatabaseKind(), /TEST_DATABASE must be "postgres" or "embedded"/);
  } finally {
    if (before === undefined) delete process.env.TEST_DATABASE;
    else process.env.TEST_DATABASE = before;
  }
});

test("a postgres backend with filesystem blobs: its own database, dropped at stop", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const backend = await startTestBackend({ database: "postgres", blobs: "fs" });
  const runtime = await backend.runtime("testkit-test");
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    assert.equal(backend.s3, undefined);
    assert.equal(runtime.config.blobs.kind, "fs");
    const put = await runtime.blobs.putBuffer(Buffer.from("hello"));
    assert.equal((await runtime.blobs.read(put.key)).toString(), "hello");
    await runtime.store.accounts.create({ address: "a@example.org", password: "pw" });
    const exists = async () =>
      (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [backend.db.name])).rowCount;
    assert.equal(await exists(), 1);
    await runtime.close();
    await backend.stop();
    assert.equal(await exists(), 0, "stop() drops the file's database");
  } finally {
    await admin.end();
  }
});

test("an embedded backend: PGlite in this process behind the pg wire protocol", async () => {
  const backend = await startTestBackend({ database: "embedded", blobs: "fs" });
  const runtime = await backend.runtime("testkit-test");
  try {
    assert.equal(backend.database, "embedded");
    assert.notEqual(new URL(backend.db.url).port, new URL(TEST_DATABASE_URL).port);
    const account = await runtime.store.accounts.create({ address: "b@example.org", password: "pw" });
    assert.ok(await runtime.store.mailboxes.byName(account.id, "INBOX"));
    const { rows } = await runtime.store.pool.query<{ v: string }>("SELECT version() AS v");
    assert.match(rows[0]!.v, /emscripten|wasm/i, "the server is PGlite, not the shared PostgreSQL");
  } finally {
    await runtime.close();
    await backend.stop();
  }
});

test("a private Dovecot answers IMAP and POP3 logins of its passwd-file users", {
  timeout: 60_000,
}, async (t) => {
  const why = dovecotUnavailable(["imap", "pop3"]);
  if (why) {
    if (process.env.CI === "true") throw new Error(`${why} (CI=true: .ci/run installs it)`);
    t.skip(why);
    return;
  }
  const message = Buffer.from("From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n");
  const dovecot = await startPrivateDovecot({
    protocols: ["imap", "pop3"],
    users: ["alice"],
    password: "secret",
    passwordScheme: "SSHA256",
    mail: { alice: [message] },
  });
  try {
    const imap = await TextClient.open(dovecot.ports.imap!);
    await imap.expect(/\* OK[^\r]*\r\n/);
    await imap.say("a LOGIN alice wrong", /a NO[^\r]*/);
    await imap.say("b LOGIN alice secret", /b OK[^\r]*/);
    assert.match(await imap.say("c SELECT INBOX", /c OK[^\r]*/), /c OK/);
    await imap.quit("d LOGOUT");
    const pop3 = await TextClient.open(dovecot.ports.pop3!);
    await pop3.expect(/\+OK[^\r]*\r\n/);
    await pop3.say("USER alice", /\+OK[^\r]*/);
    await pop3.say("PASS secret", /\+OK[^\r]*/);
    // Maildir keeps LF line ends; Dovecot counts the CRLF form, as RFC 1939 asks.
    assert.equal(await pop3.say("STAT", /\+OK \d+ \d+/), `+OK 1 ${message.length}`);
    await pop3.quit("QUIT");
  } finally {
    await dovecot.stop();
  }
});
