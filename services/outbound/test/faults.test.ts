/**
 * Faults in the middle of a queue run, over real sockets (issue 19): the
 * blob store cut off (a TCP proxy in front of this file's own s3rver drops
 * every connection) and Postgres made unreachable (this file's own database
 * renamed, its backends terminated) while a worker loop delivers 20 messages
 * to a local sink; a remote that takes the data and never answers the final
 * dot (RFC 5321 §4.5.3.2.6 timeout, configurable). Each ends in retries and
 * every message at the sink exactly once by Message-ID: nothing lost, nothing
 * sent twice. Never the shared servers: only this file's s3rver and database.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "@aerogram/config";
import { Delivery } from "@aerogram/delivery";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import {
  createTestDatabase,
  requireServer,
  type SmtpSink,
  startS3,
  startSmtpSink,
  TEST_DATABASE_URL,
  type TestDatabase,
  type TestS3,
  uniqueId,
} from "@aerogram/testkit";
import pg from "pg";
import { createWorker, parseRoutes, type WorkerOptions } from "../src/index.ts";

/** A TCP proxy that can cut every connection and refuse new ones (an S3 outage we can end). */
async function startCuttableProxy(target: number) {
  const sockets = new Set<Socket>();
  let up = true;
  const server: Server = createServer((client) => {
    if (!up) return client.destroy();
    const upstream = tcpConnect(target, "127.0.0.1");
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    down() {
      up = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    up() {
      up = true;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Message-ID → how many times the sink took it. */
function countsByMessageId(sink: SmtpSink): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of sink.messages) {
    const id = /^Message-ID: (<[^>]+>)/im.exec(m.data.toString())?.[1] ?? "?";
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe("outbound under faults", () => {
  let db: TestDatabase;
  let s3: TestS3;
  let proxy: Awaited<ReturnType<typeof startCuttableProxy>>;
  let runtime: Runtime;
  let senderId: number;
  /** Every sink a test starts, closed in after() even when an assertion failed first. */
  const sinks: SmtpSink[] = [];
  const sinkWith = async (b: Parameters<typeof startSmtpSink>[0]) => {
    const sink = await startSmtpSink(b);
    sinks.push(sink);
    return sink;
  };

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres"))) return;
    db = await createTestDatabase();
    s3 = await startS3();
    proxy = await startCuttableProxy(Number(new URL(s3.endpoint).port));
    runtime = await createRuntime(
      loadConfig({
        DATABASE_URL: db.url,
        DATABASE_POOL_MAX: "6",
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
        S3_REGION: s3.region,
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        NATS_SUBJECT_PREFIX: `t${uniqueId()}`,
        MAIL_HOSTNAME: "out.test.example",
        LOG_LEVEL: "silent",
      }),
      { service: "outbound-faults-test" },
    );
    senderId = (
      await runtime.store.accounts.create({ address: "sender@local.test", password: "pw-pw-pw-pw" })
    ).id;
  });
  after(async () => {
    for (const sink of sinks) await sink.close();
    await runtime?.close();
    await proxy?.close();
    await s3?.stop();
    await db?.drop();
  });

  const worker = (port: number, o: Partial<WorkerOptions> = {}) =>
    createWorker(runtime, {
      routes: parseRoutes(`*=127.0.0.1:${port}`),
      pollMs: 50,
      leaseMs: 3000,
      timeoutMs: 5000,
      retryScheduleMs: [300],
      concurrency: 4,
      domainConcurrency: 4,
      delayNoticeMs: 0,
      ...o,
    });

  async function enqueueMany(n: number, domain: string): Promise<string[]> {
    const delivery = new Delivery(runtime);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const messageId = `<${uniqueId()}.${i}@local.test>`;
      const blob = await delivery.storeBlob(
        Buffer.from(
          `From: sender@local.test\r\nMessage-ID: ${messageId}\r\n\r\n${"body line\r\n".repeat(200)}`,
        ),
      );
      await runtime.store.outbound.enqueue({
        blobKey: blob.key,
        size: blob.size,
        sender: "sender@local.test",
        senderAccountId: senderId,
        messageId,
        byDomain: new Map([[domain, [`rcpt${i}@${domain}`]]]),
        expiresAt: new Date(Date.now() + 86_400_000),
      });
      ids.push(messageId);
    }
    return ids;
  }

  /** Waits (Postgres errors count as "not yet") until no entry of `domain` is left. */
  async function untilDrained(domain: string, rounds = 1800) {
    for (let i = 0; i < rounds; i++) {
      try {
        if ((await runtime.store.outbound.list({ domain })).length === 0) return;
      } catch {
        // Postgres still away.
      }
      await sleep(100);
    }
    assert.fail(`entries of ${domain} still queued`);
  }

  test("S3 cut off mid-queue: the rest are retried, and each message arrives exactly once", async () => {
    let cut = false;
    const sink = await sinkWith({
      onMessage: () => {
        if (sink.messages.length >= 5 && !cut) {
          cut = true;
          proxy.down();
        }
      },
    });
    const ids = await enqueueMany(20, "s3cut.test");
    const w = worker(sink.port);
    w.start();
    try {
      for (let i = 0; i < 1200 && !cut; i++) await sleep(50);
      assert.ok(cut, "the outage started mid-queue");
      // While the blob store is away, attempts fail and are rescheduled, never lost.
      let deferred = 0;
      for (let i = 0; i < 300 && deferred === 0; i++) {
        await sleep(100);
        deferred = (await runtime.store.outbound.list({ domain: "s3cut.test" })).filter(
          (e) => e.lastError,
        ).length;
      }
      assert.ok(deferred > 0, "some entries deferred with a reason while S3 was down");
      const during = sink.messages.length;
      assert.ok(during < 20, `not everything got through the outage (${during})`);
      proxy.up();
      await untilDrained("s3cut.test");
    } finally {
      proxy.up();
      await w.stop(5000);
    }
    const counts = countsByMessageId(sink);
    assert.deepEqual([...counts.keys()].sort(), [...ids].sort(), "every message arrived");
    assert.ok(
      [...counts.values()].every((n) => n === 1),
      "none twice",
    );
  });

  test("Postgres away mid-queue (database renamed, backends killed): retries, each message exactly once", async () => {
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    const hidden = `${db.name}_away`;
    let outage: Promise<void> | undefined;
    const sink = await sinkWith({
      onMessage: () => {
        if (sink.messages.length >= 5 && !outage) {
          // Right after a remote 250: the worker cannot record it until Postgres is back.
          outage = (async () => {
            await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [
              db.name,
            ]);
            await admin.query(`ALTER DATABASE ${db.name} RENAME TO ${hidden}`);
            // Longer than the 3 s lease: the worker's own leases run out while it cannot record.
            await sleep(4000);
            await admin.query(`ALTER DATABASE ${hidden} RENAME TO ${db.name}`);
          })();
        }
      },
    });
    const ids = await enqueueMany(20, "pgcut.test");
    const w = worker(sink.port);
    w.start();
    try {
      for (let i = 0; i < 1200 && !outage; i++) await sleep(50);
      assert.ok(outage, "the outage started mid-queue");
      await outage;
      await untilDrained("pgcut.test");
    } finally {
      await admin.query(`ALTER DATABASE ${hidden} RENAME TO ${db.name}`).catch(() => {});
      await admin.end();
      await w.stop(5000);
    }
    const counts = countsByMessageId(sink);
    assert.deepEqual([...counts.keys()].sort(), [...ids].sort(), "every message arrived");
    assert.deepEqual(
      [...counts].filter(([, n]) => n !== 1),
      [],
      "none twice: an outcome Postgres could not take is recorded once it is back",
    );
  });

  test("a remote that never answers the final dot: the end-of-data timeout applies, then a retry delivers once", async () => {
    let held = 0;
    const sink = await sinkWith({ holdData: () => held++ === 0 });
    const [messageId] = await enqueueMany(1, "stuck.test");
    // The per-command timeout is far longer than the test: only the end-of-data one can end attempt 1.
    // The retry is a minute away (so one drainDue makes one attempt, however loaded the machine); flushed below.
    const w = worker(sink.port, { timeoutMs: 120_000, dataDoneTimeoutMs: 500, retryScheduleMs: [60_000] });
    await w.drainDue();
    const [entry] = await runtime.store.outbound.list({ domain: "stuck.test" });
    assert.ok(entry, "still queued after the timeout");
    assert.match(entry.lastError ?? "", /timeout|timed out/i);
    assert.equal(sink.messages.length, 0);
    assert.equal(await runtime.store.outbound.flush(entry.id), 1);
    await w.drainDue();
    await untilDrained("stuck.test");
    assert.deepEqual([...countsByMessageId(sink)], [[messageId, 1]]);
  });
});
