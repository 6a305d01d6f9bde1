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
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { Store } from "@aerogram/store";
import { cleanEnv, createTestDatabase, requireServer, startTsProcess, uniqueId } from "@aerogram/testkit";
import S3rver from "s3rver";
import { audit, auditCounts, makeMessages, sendAll } from "./mail-check.ts";
import { freePort, knob, report, sleep } from "./support.ts";

const N = knob("CHAOS_OUTAGE_N", 90, 400);
const RATE = knob("CHAOS_OUTAGE_RATE", 6, 10);
const OUTAGE_MS = knob("CHAOS_OUTAGE_MS", 3000, 8000);

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function waitListening(port: number, up: boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await listening(port)) !== up) {
    if (Date.now() > deadline) throw new Error(`port ${port} did not go ${up ? "up" : "down"}`);
    await sleep(50);
  }
}

/** A server binary we start and stop ourselves (nats-server, redis-server). */
function binaryServer(command: string, args: string[]) {
  let child: ChildProcess | undefined;
  return {
    start() {
      child = spawn(command, args, { stdio: "ignore" });
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGKILL");
      await exited;
    },
  };
}

const available = (bin: string) => spawnSync(bin, ["--version"], { stdio: "ignore" }).status === 0;

test("S3, NATS and Redis outages during SMTP load: SMTP-in rides through, nothing lost or doubled", {
  timeout: 20 * 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  // These two ship with the machine image; without them this test cannot run at all.
  assert.ok(available("nats-server"), "nats-server is installed");
  assert.ok(available("redis-server"), "redis-server is installed");

  const db = await createTestDatabase();
  const s3dir = await mkdtemp(join(tmpdir(), "aerogram-chaos-s3-"));
  const natsPort = await freePort();
  const redisPort = await freePort();
  const s3Port = await freePort();
  const bucket = `aerogram-chaos-${uniqueId()}`;
  const nats = binaryServer("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)]);
  const redis = binaryServer("redis-server", [
    "--port",
    String(redisPort),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ]);
  let s3: S3rver | undefined;
  const startS3 = async () => {
    s3 = new S3rver({
      address: "127.0.0.1",
      port: s3Port,
      silent: true,
      directory: s3dir,
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    await s3.run();
  };
  const stopS3 = async () => {
    await s3?.close();
    s3 = undefined;
  };
  nats.start();
  redis.start();
  await startS3();
  await waitListening(natsPort, true);
  await waitListening(redisPort, true);

  const store = await Store.open({ url: db.url, poolMax: 2 });
  const s3opts = {
    endpoint: `http://127.0.0.1:${s3Port}`,
    bucket,
    region: "us-east-1",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  };
  const blobs = createBlobStore({ kind: "s3", forcePathStyle: true, ...s3opts });
  const smtpPort = await freePort();
  const server = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv({
      AEROGRAM_SERVICES: "smtp-in",
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: "4",
      S3_BUCKET: bucket,
      S3_ENDPOINT: s3opts.endpoint,
      S3_REGION: s3opts.region,
      S3_ACCESS_KEY_ID: s3opts.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3opts.secretAccessKey,
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      SMTP_PORT: String(smtpPort),
      HTTP_PORT: "0",
      DEMO_ACCOUNT: "false",
      LOG_LEVEL: "error",
    }),
  );
  t.after(async () => {
    await server.stop("SIGKILL");
    await blobs.close();
    await store.close();
    await stopS3();
    await nats.stop();
    await redis.stop();
    await rm(s3dir, { recursive: true, force: true });
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
    { at: 0.2, name: "s3", down: stopS3, up: startS3 },
    { at: 0.45, name: "nats", down: () => nats.stop(), up: async () => nats.start() },
    { at: 0.7, name: "redis", down: () => redis.stop(), up: async () => redis.start() },
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
