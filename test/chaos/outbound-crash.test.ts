/**
 * Issue 19's outbound crash test: N queued messages go out through outbound
 * worker processes (main.ts, AEROGRAM_SERVICES=outbound, three of them
 * sharing the queue) to a local Aerogram SMTP-in standing in for the remote
 * MX, while the harness kill -9s a worker caught holding a lease (mid-delivery)
 * after each of K+1 batches and starts it again. Then, from the sink's
 * mailboxes: every (Message-ID, recipient) is there exactly once — 0 lost,
 * 0 duplicated — and the queue is empty. Half the messages are kept in
 * their queue rows (as submission keeps small remote-only mail), half in
 * the blob store, so both ways a worker reads a message are killed mid-way.
 *
 * A worker killed after the remote's 250 but before its own commit leaves
 * the entry to be sent again (SMTP is at-least-once, RFC 5321 §6.1); the
 * receiving Aerogram recognises the identical resend (its dedupe key) and
 * answers "already delivered" without a second copy. Those wire-level
 * resends are counted and reported, not hidden.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { loadConfig } from "@aerogram/config";
import { Delivery } from "@aerogram/delivery";
import { createRuntime } from "@aerogram/runtime";
import { optionsFromRuntime, SmtpInService } from "@aerogram/smtp-in";
import { Store } from "@aerogram/store";
import {
  cleanEnv,
  createTestDatabase,
  type RunningProcess,
  requireServer,
  startTsProcess,
  tempDir,
  uniqueId,
} from "@aerogram/testkit";
import { FULL, knob, report, sleep } from "./support.ts";

const N = knob("CHAOS_OUTBOUND_N", 150, 1000);
const KILLS = knob("CHAOS_OUTBOUND_KILLS", 4, 20);
const WORKERS = 3;
const RECIPIENTS = 10;

test("kill -9 of outbound workers mid-delivery: 0 lost, 0 duplicated at the remote", {
  timeout: FULL ? 60 * 60_000 : 15 * 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const queueDb = await createTestDatabase();
  const sinkDb = await createTestDatabase();
  const dir = await tempDir("aerogram-outbound-chaos-");
  const store = await Store.open({ url: queueDb.url, poolMax: 4 });
  const blobs = createBlobStore({ kind: "fs", dir: join(dir.path, "queue-blobs") });
  const sinkRuntime = await createRuntime(
    loadConfig({
      DATABASE_URL: sinkDb.url,
      DATABASE_POOL_MAX: "8",
      BLOB_DIR: join(dir.path, "sink-blobs"),
      NATS_SUBJECT_PREFIX: `c${uniqueId()}`,
      MAIL_HOSTNAME: "mx.sink.test",
      SMTP_PORT: "0",
      LOG_LEVEL: "silent",
    }),
    { service: "outbound-chaos-sink" },
  );
  const sink = new SmtpInService(
    sinkRuntime,
    optionsFromRuntime(sinkRuntime, {
      authTimeBoxMs: 200,
      rateLimits: {
        connectionsPerIp: 1000,
        messagesPerMinutePerIp: 1_000_000,
        messagesPerMinutePerRecipient: 1_000_000,
      },
    }),
  );
  const sinkHandle = await sink.start();
  const workers: (RunningProcess | undefined)[] = [];
  t.after(async () => {
    for (const w of workers) await w?.stop("SIGKILL");
    await sinkHandle.drain(0);
    await sinkRuntime.close();
    await blobs.close();
    await store.close();
    await queueDb.drop();
    await sinkDb.drop();
    await dir.remove();
  });

  const addresses = Array.from({ length: RECIPIENTS }, (_, k) => `r${k}@sink.test`);
  for (const address of addresses) await sinkRuntime.store.accounts.create({ address, password: "pw-pw-pw" });

  // The queue: N messages, a third of them to two recipients (one entry each: one domain),
  // enqueued in KILLS+1 batches, one before each kill, so every kill lands on mail in flight.
  const expected = new Set<string>();
  const delivery = new Delivery({ store, blobs, events: sinkRuntime.events });
  let enqueued = 0;
  const enqueueUpTo = async (count: number) => {
    for (; enqueued < count; enqueued++) {
      const i = enqueued;
      const messageId = `<chaos-${i}.${uniqueId()}@send.test>`;
      const to =
        i % 3 === 0
          ? [addresses[i % RECIPIENTS]!, addresses[(i + 1) % RECIPIENTS]!]
          : [addresses[i % RECIPIENTS]!];
      const bytes = Buffer.from(
        `From: chaos@send.test\r\nTo: ${to.join(", ")}\r\nSubject: chaos ${i}\r\nMessage-ID: ${messageId}\r\n\r\n${"line of text\r\n".repeat(20 + (i % 50))}`,
      );
      // Half the messages kept in the queue row itself (what submission does
      // with small mail for remote recipients only), half in the blob store.
      const inline = i % 2 === 1;
      const blob = inline ? undefined : await delivery.storeBlob(bytes);
      await store.outbound.enqueue({
        blobKey: blob ? blob.key : null,
        ...(inline ? { content: bytes } : {}),
        size: bytes.length,
        sender: "chaos@send.test",
        senderAccountId: null,
        messageId,
        byDomain: new Map([["sink.test", to]]),
        expiresAt: new Date(Date.now() + 86_400_000),
      });
      for (const r of to) expected.add(`${messageId} ${r}`);
    }
  };

  const env = cleanEnv({
    AEROGRAM_SERVICES: "outbound",
    // One process each: the test is the cluster here, and a lease owner's pid must be the
    // process it kills (with node:cluster workers it would be a worker's pid, not the child's).
    AEROGRAM_WORKERS: "1",
    DATABASE_URL: queueDb.url,
    DATABASE_POOL_MAX: "4",
    BLOB_DIR: join(dir.path, "queue-blobs"),
    HTTP_PORT: "0",
    MAIL_HOSTNAME: "out.chaos.test",
    OUTBOUND_ROUTES: `sink.test=127.0.0.1:${sinkHandle.endpoints[0]!.split(":").pop()}`,
    OUTBOUND_LEASE_MS: "3000",
    OUTBOUND_POLL_MS: "100",
    OUTBOUND_RETRY_SCHEDULE: "1s",
    OUTBOUND_CONCURRENCY: "8",
    OUTBOUND_DOMAIN_CONCURRENCY: "24",
    OUTBOUND_TIMEOUT_MS: "20000",
    DEMO_ACCOUNT: "false",
    LOG_LEVEL: "error",
  });
  const startWorker = async () => {
    const p = startTsProcess("services/aerogram/src/main.ts", [], env);
    await p.waitFor(/outbound 1 worker/, 120_000);
    return p;
  };
  workers.push(...(await Promise.all(Array.from({ length: WORKERS }, startWorker))));

  const remaining = async () => (await store.outbound.list({ limit: 100_000 })).length;
  let kills = 0;
  let killedInFlight = 0;
  for (let batch = 0; batch <= KILLS; batch++) {
    await enqueueUpTo(Math.round((N * (batch + 1)) / (KILLS + 1)));
    if (batch === KILLS) break;
    // Kill a worker caught holding a lease (its pid is in the lease owner): the kill
    // lands on a delivery in flight, whatever the machine's speed.
    let k = -1;
    const deadlineInFlight = Date.now() + 60_000;
    while (k === -1 && Date.now() < deadlineInFlight) {
      const now = Date.now();
      const holders = (await store.outbound.list({ limit: 100_000 }))
        .filter((e) => e.leaseOwner && e.leaseUntil && e.leaseUntil.getTime() > now)
        .map((e) => Number(e.leaseOwner!.split(":").at(-2)));
      k = workers.findIndex((w) => w && holders.includes(w.child.pid!));
      if (k === -1) await sleep(10);
    }
    if (k === -1) k = Math.floor(Math.random() * WORKERS);
    else killedInFlight++;
    workers[k]!.child.kill("SIGKILL");
    await workers[k]!.stop("SIGKILL");
    kills++;
    workers[k] = await startWorker();
  }
  let left = await remaining();
  const deadline = Date.now() + (FULL ? 45 : 12) * 60_000;
  while (left > 0 && Date.now() < deadline) {
    await sleep(250);
    left = await remaining();
  }
  assert.equal(left, 0, "the queue drained");

  const { rows } = await sinkRuntime.store.pool.query<{ message_id: string; address: string; n: number }>(
    `SELECT m.message_id, a.address, count(*)::int AS n
       FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id
      GROUP BY m.message_id, a.address`,
  );
  const got = new Map(rows.map((r) => [`${r.message_id} ${r.address}`, r.n]));
  const lost = [...expected].filter((k) => !got.has(k)).length;
  const duplicated = [...got.values()].filter((n) => n > 1).length;
  const unexpected = [...got.keys()].filter((k) => !expected.has(k)).length;
  const resends =
    (
      await (
        sinkRuntime.metrics.getSingleMetric("aerogram_smtp_transactions_total") as unknown as {
          get(): Promise<{ values: { labels: { result?: string }; value: number }[] }>;
        }
      ).get()
    ).values.find((v) => v.labels.result === "duplicate")?.value ?? 0;
  report("outbound crash (kill -9 of workers)", {
    messages: N,
    recipients: expected.size,
    kills,
    kills_mid_delivery: killedInFlight,
    workers: WORKERS,
    lost,
    duplicated,
    wire_resends_deduplicated_by_the_remote: resends,
  });
  assert.equal(kills, KILLS, "every planned kill happened");
  assert.ok(
    killedInFlight >= KILLS / 2,
    `most kills landed with mail queued (${killedInFlight} of ${kills})`,
  );
  assert.equal(lost, 0, "nothing lost");
  assert.equal(duplicated, 0, "nothing delivered twice");
  assert.equal(unexpected, 0);
});
