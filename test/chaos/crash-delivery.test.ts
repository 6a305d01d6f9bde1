/**
 * The chaos suite's core promise: no accepted mail lost or doubled when SMTP-in dies.
 *
 * SMTP-in runs as a real child process (main.ts, AEROGRAM_SERVICES=smtp-in) on
 * a fresh database, an s3rver bucket and the machine's NATS and Redis under
 * unique prefixes. A load generator sends N messages with unique Message-IDs,
 * one connection each, and retries like an MTA on 4xx and on dropped
 * connections, while the harness kill -9s the process 1-3 s after each start
 * and restarts it on the same port (once a delivery has been acknowledged since
 * the restart, so the load always progresses). The load is tied to the faults (message i
 * waits for kill floor(i*(K+1)/N)) and paced, so every kill lands on deliveries in
 * flight however fast or slow the machine is.
 *
 * Then, from the database and the blob store: every acknowledged message is in
 * each of its recipients' INBOX exactly once, byte-identical after our trace
 * headers; unacknowledged ones are absent or there once; every row's blob
 * exists; and the garbage collector removes exactly the unreferenced blobs.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { collectOrphanBlobs } from "@aerogram/delivery";
import { Store } from "@aerogram/store";
import {
  backendEnv,
  cleanEnv,
  createTestDatabase,
  type RunningProcess,
  requireServer,
  startS3,
  startTsProcess,
  TEST_REDIS_URL,
  uniqueId,
} from "@aerogram/testkit";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Redis } from "ioredis";
import { audit, auditCounts, makeMessages, sendAll } from "./mail-check.ts";
import { FULL, freePort, knob, report, sleep } from "./support.ts";

const N = knob("CHAOS_N", 150, 1000);
const KILLS = knob("CHAOS_KILLS", 4, 20);
const RATE = knob("CHAOS_RATE", 12, 20); // messages started per second, at most
const CONCURRENCY = knob("CHAOS_CONCURRENCY", 6, 8);
const RECIPIENTS = 10;
/** Short, so the check for connection slots left by the killed processes can wait one out. */
const SLOT_LEASE_MS = 3000;
/** Senders use several loopback source addresses, as many MTAs would (per-IP limits apply to each). */
const SOURCE_IPS = 20;

test("kill -9 of SMTP-in during delivery loses and duplicates nothing", {
  // Each restart of main.ts takes seconds on a loaded machine (tsx compiles at start).
  timeout: FULL ? 90 * 60_000 : 20 * 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  const db = await createTestDatabase();
  const s3 = await startS3();
  const store = await Store.open({ url: db.url, poolMax: 4 });
  const blobs = createBlobStore({
    kind: "s3",
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
  const s3client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const redisPrefix = `chaos${uniqueId()}:`;
  let server: RunningProcess | undefined;
  t.after(async () => {
    await server?.stop("SIGKILL");
    s3client.destroy();
    await blobs.close();
    await store.close();
    await s3.stop();
    await db.drop();
  });

  const addresses = Array.from({ length: RECIPIENTS }, (_, k) => `rcpt${k}@example.com`);
  const inboxOf = new Map<string, number>();
  for (const address of addresses) {
    const account = await store.accounts.create({ address, password: "pw" });
    inboxOf.set(address, (await store.mailboxes.byName(account.id, "INBOX"))!.id);
  }

  const port = await freePort();
  const env = cleanEnv(
    backendEnv({
      databaseUrl: db.url,
      s3,
      nats: true,
      redis: true,
      settings: {
        AEROGRAM_SERVICES: "smtp-in",
        DATABASE_POOL_MAX: "4",
        REDIS_KEY_PREFIX: redisPrefix,
        REDIS_SLOT_LEASE_MS: String(SLOT_LEASE_MS),
        SMTP_PORT: String(port),
        HTTP_PORT: "0",
        MAIL_HOSTNAME: "mx.chaos.test",
        LOG_LEVEL: "error",
      },
    }),
  );
  const start = async () => {
    const p = startTsProcess("services/aerogram/src/main.ts", [], env);
    await p.waitFor(new RegExp(`smtp 127\\.0\\.0\\.1:${port}`), 120_000);
    return p;
  };

  // The fault injector: start, wait for the banner, kill -9 after 1-3 s, repeat until the load is done.
  let kills = 0;
  let loadDone = false;
  const killWaiters: (() => void)[] = [];
  server = await start();
  // Each kill comes 1-3 s after the restart and only once a delivery has been acknowledged
  // since: on a loaded machine one delivery can take longer than the window, and killing
  // before any progress would livelock the load (every attempt dies in flight, forever).
  let acked = 0;
  const injector = (async () => {
    // K kills, then the rest of the load runs on a live server (the gate has spread the
    // messages over the K+1 lives, so every one of them had deliveries in flight).
    while (!loadDone && kills < KILLS) {
      const ackedAtStart = acked;
      const until = Date.now() + 1000 + Math.random() * 2000;
      while (!loadDone && (Date.now() < until || acked === ackedAtStart)) await sleep(50);
      if (loadDone) break;
      const victim = server!;
      victim.child.kill("SIGKILL");
      await victim.stop("SIGKILL");
      kills++;
      for (const w of killWaiters.splice(0)) w();
      server = await start();
    }
  })();
  const killsAtLeast = async (k: number) => {
    while (kills < k) await new Promise<void>((r) => killWaiters.push(r));
  };

  const sent = makeMessages(N, addresses);
  const deadline = Date.now() + knob("CHAOS_DEADLINE_MS", 10 * 60_000, 80 * 60_000);
  const started = Date.now();
  let permanent: string[] = [];
  try {
    ({ permanent } = await sendAll(sent, {
      port,
      concurrency: CONCURRENCY,
      rate: RATE,
      deadline,
      sourceIps: SOURCE_IPS,
      gate: (i) => killsAtLeast(Math.floor((i * (KILLS + 1)) / N)),
      onAck: (n) => {
        acked = n;
      },
    }));
  } finally {
    loadDone = true;
    await injector;
  }
  const loadSeconds = (Date.now() - started) / 1000;
  await server.stop("SIGTERM");

  // Connection slots a killed process never gave back: leases in Redis that nobody renews, so
  // one lease after the last kill none may still count (the old per-IP counter kept them 30 min).
  await sleep(SLOT_LEASE_MS + 500);
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let leakedConnectionSlots = 0;
  try {
    await redis.connect();
    const [seconds] = await redis.time();
    const keys = await redis.keys(`${redisPrefix}slots:smtp:conn:*`);
    for (const k of keys)
      leakedConnectionSlots += await redis.zcount(k, `(${Number(seconds) * 1000}`, "+inf");
    const rest = await redis.keys(`${redisPrefix}*`);
    if (rest.length > 0) await redis.del(...rest);
  } finally {
    redis.disconnect();
  }

  // Verification from the database and the blob store.
  const a = await audit(store, blobs, sent, inboxOf);
  const { referenced } = a;
  // The delivery audit first, so its counts are printed even if the blob listing below fails.
  report(`crash-delivery audit (${loadSeconds.toFixed(0)} s of load)`, {
    ...auditCounts(sent, a),
    faultsInjected: kills,
    permanentReplies: permanent.length,
  });
  const listed = new Set<string>();
  for await (const key of blobs.list()) listed.add(key);
  const orphansBefore = [...listed].filter((k) => !referenced.has(k));

  // The garbage collector: nothing is in flight any more, so no grace is needed; it must delete
  // exactly the unreferenced blobs and leave every referenced one.
  const gc = await collectOrphanBlobs({
    store,
    blobs,
    olderThanMs: 0,
    lastModified: async (key) => {
      try {
        const head = await s3client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
        return head.LastModified;
      } catch {
        return undefined;
      }
    },
  });
  let missingAfterGc = 0;
  for (const key of referenced) if (!(await blobs.stat(key))) missingAfterGc++;
  const listedAfter = new Set<string>();
  for await (const key of blobs.list()) listedAfter.add(key);

  report("crash-delivery blob gc", {
    orphanBlobs: orphansBefore.length,
    gcDeleted: gc.deleted.length,
    leakedConnectionSlots,
  });

  assert.deepEqual(permanent, [], "no message was refused permanently");
  assert.deepEqual(a.problems, []);
  assert.equal(a.strays, 0, "no rows for messages we never sent");
  assert.equal(a.acknowledged, N, "every message was eventually acknowledged");
  assert.equal(a.duplicated, 0);
  assert.equal(a.lost, 0);
  assert.equal(a.found, a.recipientDeliveries);
  assert.equal(a.rowsWithMissingBlob, 0, "no row points at a missing blob");
  assert.equal(kills, KILLS, `${KILLS} kills happened during the load`);
  assert.deepEqual(gc.deleted.sort(), orphansBefore.sort(), "the collector deletes exactly the orphans");
  assert.equal(missingAfterGc, 0, "no referenced blob was collected");
  assert.equal(leakedConnectionSlots, 0, "no killed process's connection slot still counts");
  assert.deepEqual([...listedAfter].sort(), [...referenced].sort());
});
