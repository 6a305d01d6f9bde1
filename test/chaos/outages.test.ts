/**
 * Outages in the middle of an SMTP load, on private servers only (the
 * machine's shared PostgreSQL, NATS and Redis are never touched): SMTP-in runs
 * as a child process on a fresh test database and on an s3rver, a nats-server
 * and a redis-server this test starts. While an MTA-like client sends N
 * messages, the test stops the S3 server, then NATS, then Redis, for a few
 * seconds each, and starts them again on the same port and data. SMTP-in must
 * ride through without exiting (temporary replies at worst), and afterwards
 * the mailboxes must pass the same audit as the crash test.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { Store } from "@aerogram/store";
import {
  backendEnv,
  cleanEnv,
  createTestDatabase,
  requireServer,
  startTsProcess,
  uniqueId,
} from "@aerogram/testkit";
import { audit, auditCounts, makeMessages, sendAll } from "./mail-check.ts";
import {
  binaryAvailable,
  freePort,
  knob,
  privateNats,
  privateRedis,
  report,
  restartableS3,
  sleep,
} from "./support.ts";

const N = knob("CHAOS_OUTAGE_N", 90, 400);
const RATE = knob("CHAOS_OUTAGE_RATE", 6, 10);
const OUTAGE_MS = knob("CHAOS_OUTAGE_MS", 3000, 8000);

test("S3, NATS and Redis outages during SMTP load: SMTP-in rides through, nothing lost or doubled", {
  timeout: 20 * 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  // These two ship with the machine image; without them this test cannot run at all.
  assert.ok(binaryAvailable("nats-server"), "nats-server is installed");
  assert.ok(binaryAvailable("redis-server"), "redis-server is installed");

  const db = await createTestDatabase();
  const nats = await privateNats();
  const redis = await privateRedis();
  const s3 = await restartableS3(`aerogram-chaos-${uniqueId()}`);
  await nats.start();
  await redis.start();
  await s3.start();

  const store = await Store.open({ url: db.url, poolMax: 2 });
  const s3opts = s3.options;
  const blobs = createBlobStore({ kind: "s3", forcePathStyle: true, ...s3opts });
  const smtpPort = await freePort();
  const server = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv(
      backendEnv({
        databaseUrl: db.url,
        s3: s3opts,
        nats: nats.url,
        redis: redis.url,
        settings: {
          AEROGRAM_SERVICES: "smtp-in",
          DATABASE_POOL_MAX: "4",
          SMTP_PORT: String(smtpPort),
          HTTP_PORT: "0",
          LOG_LEVEL: "error",
        },
      }),
    ),
  );
  t.after(async () => {
    await server.stop("SIGKILL");
    await blobs.close();
    await store.close();
    await s3.remove();
    await nats.stop();
    await redis.stop();
    await db.drop();
  });
  await server.waitFor(new RegExp(`smtp 127\\.0\\.0\\.1:${smtpPort}`), 120_000);
  const pid = server.child.pid;

  const addresses = Array.from({ length: 5 }, (_, k) => `out${k}@example.com`);
  const inboxOf = new Map<string, number>();
  for (const address of addresses) {
    const account = await store.accounts.create({ address, password: "pw" });
    inboxOf.set(address, (await store.mailboxes.byName(account.id, "INBOX"))!.id);
  }

  // Faults, each when a share of the load has been acknowledged.
  const faults: { at: number; name: string; down: () => Promise<void>; up: () => Promise<void> }[] = [
    { at: 0.2, name: "s3", down: () => s3.stop(), up: () => s3.start() },
    { at: 0.45, name: "nats", down: () => nats.stop(), up: () => nats.start() },
    { at: 0.7, name: "redis", down: () => redis.stop(), up: () => redis.start() },
  ];
  let acked = 0;
  let injected = 0;
  const injector = (async () => {
    for (const f of faults) {
      while (acked < f.at * N) await sleep(50);
      await f.down();
      injected++;
      await sleep(OUTAGE_MS);
      await f.up();
    }
  })();
  const sent = makeMessages(N, addresses);
  const started = Date.now();
  const { permanent } = await sendAll(sent, {
    port: smtpPort,
    concurrency: 4,
    rate: RATE,
    deadline: Date.now() + knob("CHAOS_DEADLINE_MS", 10 * 60_000, 30 * 60_000),
    sourceIps: 10,
    onAck: (n) => {
      acked = n;
    },
  });
  await injector;
  const loadSeconds = (Date.now() - started) / 1000;
  const survived = server.child.exitCode === null && server.child.signalCode === null;
  // Graceful shutdown is not under test here (and waits on reconnecting clients): just stop it.
  await server.stop("SIGKILL");

  const a = await audit(store, blobs, sent, inboxOf);
  report(`outages (${loadSeconds.toFixed(0)} s of load, ${OUTAGE_MS} ms each)`, {
    ...auditCounts(sent, a),
    faultsInjected: injected,
    faults: faults.map((f) => f.name).join("+"),
    permanentReplies: permanent.length,
    smtpInSurvived: String(survived),
  });
  assert.ok(survived, `SMTP-in (pid ${pid}) kept running through the outages`);
  assert.deepEqual(permanent, [], "no message was refused permanently");
  assert.deepEqual(a.problems, []);
  assert.equal(a.strays, 0);
  assert.equal(a.acknowledged, N);
  assert.equal(a.duplicated, 0);
  assert.equal(a.lost, 0);
  assert.equal(a.found, a.recipientDeliveries);
  assert.equal(a.rowsWithMissingBlob, 0);
  assert.equal(injected, faults.length);
});
