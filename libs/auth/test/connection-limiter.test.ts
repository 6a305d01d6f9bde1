/**
 * ConnectionLimiter: two gateway processes (two limiters on two Redis
 * connections, one key prefix) share one per-account, per-protocol count, and
 * the sessions of a replica that dies without releasing them stop counting
 * within the slot lease while live sessions elsewhere stay counted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryLimiter, RedisLimiter } from "@aerogram/limits";
import { createLogger } from "@aerogram/observability";
import { requireServer, TEST_REDIS_URL, uniqueId } from "@aerogram/testkit";
import { ConnectionLimiter } from "../src/index.ts";

const log = createLogger({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function twoProcesses(t: import("node:test").TestContext, slotLeaseMs: number) {
  const prefix = `t${uniqueId()}:`;
  const [redisA, redisB] = await Promise.all([
    RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix: prefix, slotLeaseMs }),
    RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix: prefix, slotLeaseMs }),
  ]);
  const a = new ConnectionLimiter({ limits: redisA, log }, { maxPerAccount: 2 });
  const b = new ConnectionLimiter({ limits: redisB, log }, { maxPerAccount: 2 });
  t.after(async () => {
    a.close();
    b.close();
    await Promise.all([redisA.close(), redisB.close()]);
  });
  return { a, b, redisA };
}

test("the limit is shared by two gateways through Redis, per account and per protocol", async (t) => {
  if (!(await requireServer(t, "redis"))) return;
  const { a, b } = await twoProcesses(t, 60_000);
  const [s1, s2, s3, s4] = [{}, {}, {}, {}];
  assert.equal(await a.acquire("imap", 7, s1), true);
  assert.equal(await b.acquire("imap", 7, s2), true);
  assert.equal(await a.acquire("imap", 7, s3), false, "third IMAP session of account 7 on either gateway");
  assert.equal(await b.acquire("imap", 7, s3), false);
  assert.equal(await b.acquire("pop3", 7, s3), true, "POP3 is counted apart");
  assert.equal(await b.acquire("imap", 8, s4), true, "another account is counted apart");
  await a.release(s1);
  await a.release(s1); // idempotent
  assert.equal(await b.acquire("imap", 7, {}), true, "a released slot is free on the other gateway");
  assert.equal(await a.acquire("imap", 7, {}), false);
});

test("a crashed gateway's sessions stop counting within the slot lease; live ones keep counting", async (t) => {
  if (!(await requireServer(t, "redis"))) return;
  const slotLeaseMs = 400;
  const { a, b, redisA } = await twoProcesses(t, slotLeaseMs);
  assert.equal(await a.acquire("imap", 9, {}), true);
  assert.equal(await b.acquire("imap", 9, {}), true);
  assert.equal(await b.acquire("imap", 9, {}), false);
  await redisA.close(); // "crash": no release, no more heartbeats
  await sleep(slotLeaseMs + 200);
  assert.equal(await b.acquire("imap", 9, {}), true, "the dead replica's slot is free again");
  assert.equal(await b.acquire("imap", 9, {}), false, "B's two live sessions are still counted");
  await sleep(3 * slotLeaseMs);
  assert.equal(await b.acquire("imap", 9, {}), false, "and stay counted lease after lease");
});

test("a session that ends while its login is being counted gives its slot back", async () => {
  const limiter = new ConnectionLimiter({ limits: new MemoryLimiter(), log }, { maxPerAccount: 1 });
  const session = {};
  const counting = limiter.acquire("imap", 3, session);
  await limiter.release(session); // the client hung up right after LOGIN
  assert.equal(await counting, false, "the session is gone: not counted");
  assert.equal(await limiter.acquire("imap", 3, {}), true, "its slot was not kept");
});

test("in memory (npm start) the same rules hold inside one process", async () => {
  const limiter = new ConnectionLimiter({ limits: new MemoryLimiter(), log }, { maxPerAccount: 1 });
  try {
    const first = {};
    assert.equal(await limiter.acquire("pop3", 1, first), true);
    assert.equal(await limiter.acquire("pop3", 1, {}), false);
    await limiter.release(first);
    assert.equal(await limiter.acquire("pop3", 1, {}), true);
  } finally {
    limiter.close();
  }
});
