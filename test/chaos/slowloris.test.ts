/**
 * Slowloris and floods against the real gateways (main.ts with IMAP, POP3 and
 * SMTP-in in one child process, on a test database, an s3rver bucket and NATS
 * and Redis under unique prefixes):
 *
 *  - CHAOS_SLOW_CONNECTIONS (1,000; 5,000 in the full form) connections spread
 *    over the three protocols and 20 loopback source addresses each send one
 *    byte, then another now and then, and never finish a line. The gateway's
 *    RSS must stay bounded per connection, and meanwhile a normal IMAP, POP3
 *    and SMTP client still logs in and gets its work done.
 *  - An IMAP client announcing a 2 GB literal gets a tagged NO/BAD at once, with
 *    no continuation, and keeps its session (synchronizing); a non-synchronizing
 *    one is refused (BAD [TOOBIG], then BYE and close) before the client has sent
 *    a single octet of it, so nothing of it is ever read or buffered.
 *
 * The idle timeouts and login deadlines themselves (IMAP pre-auth idle 2 min,
 * POP3 idle 10 min, both with a 5 min login deadline that trickled bytes don't
 * extend; SMTP 5 min per command line) are too long for a CI run, so this test
 * reports them rather than waits; libs/net and smtp-in test the mechanism with
 * short values.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { Store } from "@aerogram/store";
import {
  cleanEnv,
  createTestDatabase,
  type RunningProcess,
  requireServer,
  startS3,
  startTsProcess,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  uniqueId,
} from "@aerogram/testkit";
import { knob, report, sleep, smtpAttempt } from "./support.ts";

const SLOW = knob("CHAOS_SLOW_CONNECTIONS", 1000, 5000);
const SOURCE_IPS = 20;
/** RSS growth allowed per held connection (the IMAP gateway measures ~19 KB per idle session). */
const MAX_KB_PER_CONNECTION = knob("CHAOS_MAX_KB_PER_CONNECTION", 100, 100);

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** A line-oriented conversation on a raw socket (IMAP and POP3 replies). */
class LineClient {
  private buffer = "";
  private waiter: (() => void) | undefined;
  closed = false;
  constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer += d.toString("latin1");
      this.waiter?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on("error", () => {});
  }
  static async open(port: number): Promise<LineClient> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return new LineClient(socket);
  }
  /** Reads until a line matches `re` (returns it) or the connection closes (undefined). */
  async until(re: RegExp, timeoutMs = 60_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let nl = this.buffer.indexOf("\n");
      while (nl !== -1) {
        const line = this.buffer.slice(0, nl + 1).trimEnd();
        this.buffer = this.buffer.slice(nl + 1);
        if (re.test(line)) return line;
        nl = this.buffer.indexOf("\n");
      }
      if (this.closed) return undefined;
      if (Date.now() > deadline) throw new Error(`no ${re} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }
  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }
  close(): void {
    this.socket.destroy();
  }
}

test("slow connections and a 2 GB literal leave the gateways bounded and serving", {
  timeout: 20 * 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  const db = await createTestDatabase();
  const s3 = await startS3();
  const store = await Store.open({ url: db.url, poolMax: 2 });
  await store.accounts.create({ address: "user@example.com", password: "secret-pw" });
  await store.close();
  const slow: Socket[] = [];
  let server: RunningProcess | undefined;
  t.after(async () => {
    for (const s of slow) s.destroy();
    await server?.stop("SIGKILL");
    await s3.stop();
    await db.drop();
  });
  server = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv({
      AEROGRAM_SERVICES: "imap,pop3,smtp-in",
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: "4",
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      NATS_URL: TEST_NATS_URL,
      NATS_SUBJECT_PREFIX: `sl${uniqueId()}`,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `sl${uniqueId()}:`,
      SMTP_PORT: "0",
      IMAP_PORT: "0",
      POP3_PORT: "0",
      HTTP_PORT: "0",
      DEMO_ACCOUNT: "false",
      // One process: the RSS read from /proc below is that of the process holding the sessions.
      AEROGRAM_WORKERS: "1",
      LOG_LEVEL: "error",
    }),
  );
  const imapPort = Number((await server.waitFor(/IMAP\s+127\.0\.0\.1:(\d+)/, 120_000))[1]);
  const pop3Port = Number((await server.waitFor(/pop3 127\.0\.0\.1:(\d+)/))[1]);
  const smtpPort = Number((await server.waitFor(/smtp 127\.0\.0\.1:(\d+)/))[1]);
  const pid = server.child.pid!;

  /** A normal user of each protocol, start to finish. */
  const normalUsers = async (label: string) => {
    const imap = await LineClient.open(imapPort);
    assert.ok(await imap.until(/^\* OK/), `${label}: IMAP greeting`);
    imap.send('a1 LOGIN user@example.com "secret-pw"');
    assert.match((await imap.until(/^a1 /)) ?? "closed", /^a1 OK/, `${label}: IMAP LOGIN`);
    imap.send("a2 SELECT INBOX");
    assert.match((await imap.until(/^a2 /)) ?? "closed", /^a2 OK/, `${label}: IMAP SELECT`);
    imap.send("a3 LOGOUT");
    await imap.until(/^a3 /);
    imap.close();

    const pop = await LineClient.open(pop3Port);
    assert.match((await pop.until(/^[+-]/)) ?? "closed", /^\+OK/, `${label}: POP3 greeting`);
    pop.send("USER user@example.com");
    assert.match((await pop.until(/^[+-]/)) ?? "closed", /^\+OK/);
    pop.send("PASS secret-pw");
    assert.match((await pop.until(/^[+-]/)) ?? "closed", /^\+OK/, `${label}: POP3 PASS`);
    pop.send("STAT");
    assert.match((await pop.until(/^[+-]/)) ?? "closed", /^\+OK \d+ \d+/, `${label}: POP3 STAT`);
    pop.send("QUIT");
    await pop.until(/^[+-]/);
    pop.close();

    const id = uniqueId();
    const outcome = await smtpAttempt({
      port: smtpPort,
      from: "friend@remote.test",
      to: ["user@example.com"],
      message: Buffer.from(
        `From: friend@remote.test\r\nMessage-ID: <${id}@remote.test>\r\nSubject: ${label}\r\n\r\nhi\r\n`,
      ),
      timeoutMs: 60_000,
    });
    assert.equal(outcome.kind, "ack", `${label}: SMTP delivery ${JSON.stringify(outcome)}`);
  };

  await normalUsers("before");
  const rssBefore = rssMB(pid);

  // The slow crowd: open in batches, send one byte each, keep them.
  const ports = [imapPort, pop3Port, smtpPort];
  let refused = 0;
  for (let i = 0; i < SLOW; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, SLOW - i) }, async (_, k) => {
        const n = i + k;
        const socket = connect({
          host: "127.0.0.1",
          port: ports[n % 3]!,
          localAddress: `127.0.1.${1 + (n % SOURCE_IPS)}`,
        });
        socket.on("error", () => {});
        socket.on("close", () => {
          refused++;
        });
        slow.push(socket);
        await new Promise<void>((r) => socket.once("connect", () => r()).once("error", () => r()));
        socket.write("a");
      }),
    );
  }
  // Dribble a few more bytes, one per connection per round, never a whole line.
  const rounds = knob("CHAOS_SLOW_ROUNDS", 3, 5);
  for (let r = 0; r < rounds; r++) {
    await sleep(2000);
    for (const s of slow) if (!s.destroyed) s.write("b");
  }
  const held = slow.filter((s) => !s.destroyed).length;
  const rssHeld = rssMB(pid);

  // Everyone else is unaffected while the crowd holds its connections.
  const started = Date.now();
  await normalUsers("during");
  const normalMs = Date.now() - started;

  // A 2 GB literal: a synchronizing one is refused before a single octet and the session goes on;
  // a non-synchronizing one (RFC 7888: the client does not wait) is refused as soon as its header
  // arrives, with the connection closed, before we send any of it.
  const imap = await LineClient.open(imapPort);
  await imap.until(/^\* OK/);
  imap.send("x1 LOGIN {2147483648}");
  const syncAnswer = await imap.until(/^(x1 |\+ )/);
  assert.match(syncAnswer ?? "closed", /^x1 (NO|BAD)/, "pre-auth 2 GB literal refused");
  imap.send('x2 LOGIN user@example.com "secret-pw"');
  assert.match((await imap.until(/^x2 /)) ?? "closed", /^x2 OK/);
  imap.send("x3 APPEND INBOX {2147483648}");
  const appendAnswer = await imap.until(/^(x3 |\+ )/);
  assert.match(appendAnswer ?? "closed", /^x3 (NO|BAD)/, "2 GB APPEND refused (APPENDLIMIT)");
  imap.send("x3b NOOP");
  assert.match(
    (await imap.until(/^x3b /, 30_000)) ?? "closed",
    /^x3b OK/,
    "after the refusal the session goes on",
  );
  const rssBeforeNonSync = rssMB(pid);
  imap.socket.write("x4 APPEND INBOX {2147483648+}\r\n");
  const nonSyncAnswer = await imap.until(/^x4 /, 30_000);
  const nonSyncBye = await imap.until(/^\* BYE/, 30_000);
  const closeBy = Date.now() + 10_000;
  while (!imap.closed && Date.now() < closeBy) await sleep(50);
  const nonSyncClosed = imap.closed;
  imap.close();
  const rssAfterNonSync = rssMB(pid);

  const rssGrowth = rssHeld - rssBefore;
  const kbPerConnection = (rssGrowth * 1024) / Math.max(1, held);
  report(`slowloris (${SLOW} slow connections)`, {
    opened: SLOW,
    heldOpen: held,
    closedByServer: refused,
    rssBeforeMB: rssBefore.toFixed(0),
    rssHeldMB: rssHeld.toFixed(0),
    kbPerConnection: kbPerConnection.toFixed(1),
    normalUsersMs: normalMs,
    literal2GBSync: syncAnswer ?? "closed",
    literal2GBAppend: appendAnswer ?? "closed",
    literal2GBNonSync: nonSyncAnswer ?? "closed",
    nonSyncClosedByServer: String(nonSyncClosed),
    rssGrowthNonSyncMB: (rssAfterNonSync - rssBeforeNonSync).toFixed(0),
    preAuthTimeouts:
      "imap=2min idle + 5min login deadline, pop3=10min idle + 5min authorization deadline, smtp=5min per command line (deadlines are not reset by bytes)",
  });
  assert.ok(
    kbPerConnection < MAX_KB_PER_CONNECTION,
    `RSS grew ${kbPerConnection.toFixed(1)} KB per held connection`,
  );
  assert.match(
    nonSyncAnswer ?? "closed",
    /^x4 (NO|BAD) \[TOOBIG\]/,
    "2 GB non-synchronizing literal refused",
  );
  assert.match(nonSyncBye ?? "closed", /^\* BYE \[TOOBIG\]/);
  assert.ok(nonSyncClosed, "the server closed the connection it could not resynchronise");
  assert.ok(
    rssAfterNonSync - rssBeforeNonSync < 32,
    `a refused literal is not buffered (RSS +${(rssAfterNonSync - rssBeforeNonSync).toFixed(0)} MB)`,
  );
});
