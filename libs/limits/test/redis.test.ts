import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { requireServer, TEST_REDIS_URL, uniqueId } from "@aerogram/testkit";
import { Redis } from "ioredis";
import { createLimiter, RedisLimiter } from "../src/index.ts";
import { limiterContract } from "./contract.ts";

// One prefix per test file: files run in parallel against the same server.
const keyPrefix = `t:${uniqueId()}:`;
const open = () => RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix });

/** Deletes everything this file wrote (fencing counters never expire on their own). */
async function removeKeys(): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

async function closedPortUrl(): Promise<string> {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return `redis://127.0.0.1:${address.port}`;
}

test("RedisLimiter", async (t) => {
  if (!(await requireServer(t, "redis"))) return;
  t.after(removeKeys);

  await limiterContract(t, open);

  // The POP3 maildrop lock's own connection: every command written at once.
  await t.test("without auto-pipelining", (t) =>
    limiterContract(t, () => RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix, autoPipelining: false })),
  );

  await t.test("two replicas share locks and fencing through Redis", async (t) => {
    const [replicaA, replicaB] = await Promise.all([open(), open()]);
    t.after(() => Promise.all([replicaA.close(), replicaB.close()]));
    const key = `shared-lock-${uniqueId()}`;
    const a = await replicaA.acquire(key, 10_000);
    assert.ok(a);
    assert.equal(await replicaB.acquire(key, 10_000), undefined, "held by the other replica");
    await a.release();
    const b = await replicaB.acquire(key, 10_000);
    assert.ok(b);
    assert.ok(b.fencingToken > a.fencingToken);
    assert.equal(await a.renew(), false, "replica A's lease is gone");
    assert.equal(await replicaA.acquire(key, 10_000), undefined);
    await b.release();
  });

  await t.test("two replicas draw from one token bucket", async (t) => {
    const [replicaA, replicaB] = await Promise.all([open(), open()]);
    t.after(() => Promise.all([replicaA.close(), replicaB.close()]));
    const key = `shared-bucket-${uniqueId()}`;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? replicaA : replicaB).take(key, 4, 0.1)),
    );
    assert.equal(
      results.filter((r) => r.allowed).length,
      4,
      "exactly capacity, however the calls interleave",
    );
  });

  await t.test("keys live under the prefix, and a full bucket leaves no key behind", async (t) => {
    const limiter = await open();
    const redis = new Redis(TEST_REDIS_URL);
    t.after(async () => {
      await limiter.close();
      redis.disconnect();
    });
    const id = uniqueId();
    await limiter.incr(`c-${id}`, 1, 5000);
    const pttl = await redis.pttl(`${keyPrefix}limit:c-${id}`);
    assert.ok(pttl > 0 && pttl <= 5000, `pttl ${pttl}`);
    await limiter.take(`b-${id}`, 2, 1);
    const bucketTtl = await redis.pttl(`${keyPrefix}limit:b-${id}`);
    assert.ok(
      bucketTtl > 0 && bucketTtl <= 1000,
      `expires when full again (one token at 1/s), pttl ${bucketTtl}`,
    );
    await limiter.take(`z-${id}`, 2, 1, 0);
    assert.equal(await redis.exists(`${keyPrefix}limit:z-${id}`), 0);
    const lease = await limiter.acquire(`l-${id}`, 5000);
    assert.ok(lease);
    assert.equal(await redis.pttl(`${keyPrefix}fence:l-${id}`), -1, "fencing counter never expires");
    await lease.release();
    assert.equal(await redis.exists(`${keyPrefix}lease:l-${id}`), 0);
  });

  await t.test(
    "a replica that dies holding slots stops counting within the lease; live ones keep counting",
    async (t) => {
      const slotLeaseMs = 600;
      const [dying, alive] = await Promise.all([
        RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix, slotLeaseMs }),
        RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix, slotLeaseMs }),
      ]);
      t.after(() => alive.close());
      const key = `ip-${uniqueId()}`;
      for (let i = 0; i < 2; i++) assert.ok(await dying.holdSlot(key, 3));
      assert.ok(await alive.holdSlot(key, 3));
      assert.equal(await alive.holdSlot(key, 3), undefined, "both replicas' slots count");
      await dying.close(); // as kill -9 would: no release, no more heartbeats
      // Several leases later the live slot has been renewed throughout, the dead ones have lapsed.
      await sleep(3 * slotLeaseMs);
      assert.ok(await alive.holdSlot(key, 3), "the dead replica's slots are free again");
      assert.ok(await alive.holdSlot(key, 3));
      assert.equal(await alive.holdSlot(key, 3), undefined, "the live replica's three slots still count");
    },
  );

  await t.test("slots live in one sorted set per key that expires with its last lease", async (t) => {
    const limiter = await RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix, slotLeaseMs: 5000 });
    const redis = new Redis(TEST_REDIS_URL);
    t.after(async () => {
      await limiter.close();
      redis.disconnect();
    });
    const key = `s-${uniqueId()}`;
    const slot = await limiter.holdSlot(key, 1);
    assert.ok(slot);
    assert.equal(await redis.zcard(`${keyPrefix}slots:${key}`), 1);
    const pttl = await redis.pttl(`${keyPrefix}slots:${key}`);
    assert.ok(pttl > 0 && pttl <= 5000, `pttl ${pttl}`);
    await slot.release();
    assert.equal(await redis.exists(`${keyPrefix}slots:${key}`), 0, "the last release removes the key");
  });

  await t.test("createLimiter connects to Redis for the redis configuration", async () => {
    const limiter = await createLimiter({
      kind: "redis",
      url: TEST_REDIS_URL,
      keyPrefix,
      slotLeaseMs: 30_000,
    });
    assert.ok(limiter instanceof RedisLimiter);
    await limiter.ping();
    await limiter.close();
  });
});

/** Every kind of call rejects, each within the command timeout (1 s here) plus slack. */
async function assertCallsFailFast(limiter: RedisLimiter): Promise<void> {
  for (const call of [
    () => limiter.take("b", 1, 1),
    () => limiter.incr("c", 1, 1000),
    () => limiter.get("c"),
    () => limiter.acquire("l", 1000),
    () => limiter.holdSlot("s", 1),
    () => limiter.ping(),
  ]) {
    const started = Date.now();
    await assert.rejects(call());
    const took = Date.now() - started;
    assert.ok(took < 2500, `rejected after ${took} ms`);
  }
}

test("RedisLimiter pointed at a closed port fails fast instead of hanging", async () => {
  const errors: unknown[] = [];
  const started = Date.now();
  const limiter = await RedisLimiter.connect({
    url: await closedPortUrl(),
    keyPrefix,
    connectWaitMs: 300,
    commandTimeoutMs: 1000,
    onError: (e) => errors.push(e),
  });
  try {
    assert.ok(Date.now() - started < 2000, "connect() returns while Redis is down");
    await assertCallsFailFast(limiter);
    // Still bounded well into the outage, when reconnect back-off has grown.
    await assertCallsFailFast(limiter);
    assert.ok(errors.length > 0, "connection errors are reported");
  } finally {
    await limiter.close();
  }
});

test("RedisLimiter facing a server that never answers fails fast instead of hanging", async (t) => {
  // A network partition without resets: TCP connects, then silence.
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  }).listen(0, "127.0.0.1");
  await once(silent, "listening");
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const { port } = silent.address() as AddressInfo;
  const limiter = await RedisLimiter.connect({
    url: `redis://127.0.0.1:${port}`,
    keyPrefix,
    connectWaitMs: 300,
    commandTimeoutMs: 1000,
  });
  try {
    await assertCallsFailFast(limiter);
  } finally {
    await limiter.close();
  }
});
