/**
 * Issue 10's core promise: no accepted mail lost or doubled when SMTP-in dies.
 *
 * SMTP-in runs as a real child process (main.ts, AEROGRAM_SERVICES=smtp-in) on
 * a fresh database, an s3rver bucket and the machine's NATS and Redis under
 * unique prefixes. A load generator sends N messages with unique Message-IDs,
 * one connection each, and retries like an MTA on 4xx and on dropped
 * connections, while the harness kill -9s the process 1-3 s after each start
 * and restarts it on the same port. The load is tied to the faults (message i
 * waits for kill floor(i*(K+1)/N)) and paced, so every kill lands on deliveries in
 * flight however fast or slow the machine is.
 *
 * Then, from the database and the blob store: every acknowledged message is in
 * each of its recipients' INBOX exactly once, byte-identical after our trace
 * headers; unacknowledged ones are absent or there once; every row's blob
 * exists; and the garbage collector removes exactly the unreferenced blobs.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { collectOrphanBlobs } from "@aerogram/delivery";
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
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Redis } from "ioredis";
import { freePort, knob, report, sleep, smtpAttempt } from "./support.ts";

const N = knob("CHAOS_N", 150, 1000);
const KILLS = knob("CHAOS_KILLS", 4, 20);
const RATE = knob("CHAOS_RATE", 12, 20); // messages started per second, at most
const CONCURRENCY = knob("CHAOS_CONCURRENCY", 6, 8);
const RECIPIENTS = 10;
/** Senders use several loopback source addresses, as many MTAs would (per-IP limits apply to each). */
const SOURCE_IPS = 20;

interface Sent {
  id: string;
  to: string[];
  message: Buffer;
  acked: boolean;
  attempts: number;
  dropped: number;
  temporary: number;
}

function buildMessage(i: number, id: string, to: readonly string[]): Buffer {
  const lines = [
    `From: Sender ${i} <sender${i}@remote.test>`,
    `To: ${to.join(", ")}`,
    `Subject: chaos ${i} ${id}`,
    `Message-ID: <${id}@remote.test>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    `message ${i}`,
    // Dot-stuffing must round-trip: a line that is a single dot and one that starts with one.
    ".",
    ".leading dot",
  ];
  // Bodies from a few hundred bytes to ~24 KB of random base64 lines.
  const extra = (i * 7919) % 320;
  for (let k = 0; k < extra; k++) lines.push(randomBytes(57).toString("base64"));
  lines.push("end", "");
  return Buffer.from(lines.join("\r\n"));
}

test("kill -9 of SMTP-in during delivery loses and duplicates nothing", {
  timeout: 20 * 60_000,
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
  const env = cleanEnv({
    AEROGRAM_SERVICES: "smtp-in",
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: "4",
    S3_BUCKET: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    NATS_URL: TEST_NATS_URL,
    NATS_SUBJECT_PREFIX: `chaos${uniqueId()}`,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    SMTP_PORT: String(port),
    HTTP_PORT: "0",
    MAIL_HOSTNAME: "mx.chaos.test",
    DEMO_ACCOUNT: "false",
    LOG_LEVEL: "error",
  });
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
  const injector = (async () => {
    while (!loadDone) {
      const until = Date.now() + 1000 + Math.random() * 2000;
      while (!loadDone && Date.now() < until) await sleep(50);
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

  const sent: Sent[] = [];
  for (let i = 0; i < N; i++) {
    const id = `chaos-${i}-${uniqueId()}`;
    const to = [addresses[i % RECIPIENTS]!];
    // Every fifth message goes to two mailboxes: one transaction for both.
    if (i % 5 === 0) to.push(addresses[(i + 3) % RECIPIENTS]!);
    sent.push({
      id,
      to,
      message: buildMessage(i, id, to),
      acked: false,
      attempts: 0,
      dropped: 0,
      temporary: 0,
    });
  }
  const deadline = Date.now() + knob("CHAOS_DEADLINE_MS", 10 * 60_000, 30 * 60_000);
  let next = 0;
  let permanent = 0;
  const started = Date.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= N) return;
      const m = sent[i]!;
      await killsAtLeast(Math.floor((i * (KILLS + 1)) / N));
      const notBefore = started + (i * 1000) / RATE;
      if (Date.now() < notBefore) await sleep(notBefore - Date.now());
      while (!m.acked && Date.now() < deadline) {
        m.attempts++;
        const outcome = await smtpAttempt({
          port,
          localAddress: `127.0.0.${2 + (i % SOURCE_IPS)}`,
          from: `sender${i}@remote.test`,
          to: m.to,
          message: m.message,
          timeoutMs: 30_000,
        });
        if (outcome.kind === "ack") m.acked = true;
        else if (outcome.kind === "permanent") {
          permanent++;
          assert.fail(`message ${i} permanently refused: ${outcome.reply}`);
        } else {
          if (outcome.kind === "dropped") m.dropped++;
          else m.temporary++;
          await sleep(200 + Math.random() * 400);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    loadDone = true;
    await injector;
  }
  const loadSeconds = (Date.now() - started) / 1000;
  await server.stop("SIGTERM");

  // Connection slots a killed process never gave back (the counter lives in Redis with a TTL).
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let leakedConnectionSlots = 0;
  try {
    await redis.connect();
    const keys = await redis.keys(`${redisPrefix}*smtp:conn:*`);
    for (const k of keys) leakedConnectionSlots += Number((await redis.get(k)) ?? 0);
    if (keys.length > 0) await redis.del(...keys);
    const rest = await redis.keys(`${redisPrefix}*`);
    if (rest.length > 0) await redis.del(...rest);
  } finally {
    redis.disconnect();
  }

  // Verification from the database and the blob store.
  const { rows } = await store.pool.query<{
    mailbox_id: number;
    message_id: string | null;
    blob_key: string;
  }>("SELECT mailbox_id, message_id, blob_key FROM messages");
  const rowsBy = new Map<string, { mailbox_id: number; blob_key: string }[]>();
  for (const r of rows) {
    const k = r.message_id ?? "";
    rowsBy.set(k, [...(rowsBy.get(k) ?? []), r]);
  }
  const expectedIds = new Set(sent.map((m) => `<${m.id}@remote.test>`));
  const strays = rows.filter((r) => !expectedIds.has(r.message_id ?? ""));
  let found = 0;
  let duplicated = 0;
  let lost = 0;
  let corrupt = 0;
  let unackedPresent = 0;
  const problems: string[] = [];
  for (const m of sent) {
    const mine = rowsBy.get(`<${m.id}@remote.test>`) ?? [];
    for (const address of m.to) {
      const inbox = inboxOf.get(address)!;
      const copies = mine.filter((r) => r.mailbox_id === inbox);
      if (copies.length > 1) {
        duplicated++;
        problems.push(`${m.id} is in ${address} ${copies.length} times`);
      }
      if (copies.length === 0 && m.acked) {
        lost++;
        problems.push(`${m.id} was acknowledged but is not in ${address}`);
      }
      if (copies.length >= 1) {
        if (m.acked) found++;
        else unackedPresent++;
        const raw = await blobs.read(copies[0]!.blob_key);
        const prefix = raw.subarray(0, Math.max(0, raw.length - m.message.length)).toString("latin1");
        const rest = raw.subarray(raw.length - m.message.length);
        if (
          !rest.equals(m.message) ||
          !/^Received: /.test(prefix) ||
          !/^(?:[!-9;-~]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)+$/.test(prefix)
        ) {
          corrupt++;
          problems.push(`${m.id} in ${address} is not the message as sent after our trace headers`);
        }
      }
    }
    // A message is stored whole or not at all: never in some recipients only.
    const present = m.to.filter((a) => mine.some((r) => r.mailbox_id === inboxOf.get(a))).length;
    if (present !== 0 && present !== m.to.length)
      problems.push(`${m.id} is in ${present}/${m.to.length} mailboxes`);
  }
  const referenced = new Set(rows.map((r) => r.blob_key));
  let missingBlobs = 0;
  for (const key of referenced) if (!(await blobs.stat(key))) missingBlobs++;
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

  const acknowledged = sent.filter((m) => m.acked).length;
  const deliveries = sent.filter((m) => m.acked).reduce((n, m) => n + m.to.length, 0);
  report(`crash-delivery (${(loadSeconds).toFixed(0)} s of load)`, {
    sent: N,
    acknowledged,
    recipientDeliveries: deliveries,
    found,
    duplicated,
    lost,
    corrupt,
    unackedPresent,
    faultsInjected: kills,
    attempts: sent.reduce((n, m) => n + m.attempts, 0),
    droppedAttempts: sent.reduce((n, m) => n + m.dropped, 0),
    temporaryReplies: sent.reduce((n, m) => n + m.temporary, 0),
    permanentReplies: permanent,
    rowsWithMissingBlob: missingBlobs,
    orphanBlobs: orphansBefore.length,
    gcDeleted: gc.deleted.length,
    leakedConnectionSlots,
  });

  assert.deepEqual(problems, []);
  assert.equal(strays.length, 0, "no rows for messages we never sent");
  assert.equal(acknowledged, N, "every message was eventually acknowledged");
  assert.equal(duplicated, 0);
  assert.equal(lost, 0);
  assert.equal(found, deliveries);
  assert.equal(missingBlobs, 0, "no row points at a missing blob");
  assert.ok(kills >= KILLS, `at least ${KILLS} kills happened during the load (${kills})`);
  assert.deepEqual(gc.deleted.sort(), orphansBefore.sort(), "the collector deletes exactly the orphans");
  assert.equal(missingAfterGc, 0, "no referenced blob was collected");
  assert.deepEqual([...listedAfter].sort(), [...referenced].sort());
});
