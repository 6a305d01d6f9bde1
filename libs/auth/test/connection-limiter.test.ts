/**
 * ConnectionLimiter: two gateway processes (two limiters on two Redis
 * connections, one key prefix) share one per-account, per-protocol count, and
 * the sessions of a replica that dies without releasing them stop counting
 * within two epochs while live sessions elsewhere stay counted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryLimiter, RedisLimiter } from "@aerogram/limits";
import { createLogger } from "@aerogram/observability";
import { requireServer, TEST_REDIS_URL, uniqueId } from "@aerogram/testkit";
import { ConnectionLimiter } from "../src/index.ts";

const log = createLogger({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function twoProcesses(t: import("node:test").TestContext, epochMs: number) {
  const prefix = `t${uniqueId()}:`;
  const [redisA, redisB] = await Promise.all([
    RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix: prefix }),
    RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix: prefix }),
  ]);
  const a = new ConnectionLimiter({ limits: redisA, log }, { maxPerAccount: 2, epochMs });
  const b = new ConnectionLimiter({ limits: redisB, log }, { maxPerAccount: 2, epochMs });
  t.after(async () => {
    a.close();
    b.close();
    await Promise.all([redisA.close(), redisB.close()]);
  });
  return { a, b };
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

test("a crashed gateway's sessions stop counting within two epochs; live ones keep counting", async (t) => {
  if (!(await requireServer(t, "redis"))) return;
  const epochMs = 300;
  const { a, b } = await twoProcesses(t, epochMs);
  assert.equal(await a.acquire("imap", 9, {}), true);
  assert.equal(await b.acquire("imap", 9, {}), true);
  assert.equal(await b.acquire("imap", 9, {}), false);
  a.close(); // "crash": no release, no more roll-over
  // Two epochs plus a tick: A's session is gone, B's live one has been rolled over each epoch.
  await sleep(2 * epochMs + epochMs / 2 + 100);
  assert.equal(await b.acquire("imap", 9, {}), true, "the dead replica's slot is free again");
  assert.equal(await b.acquire("imap", 9, {}), false, "B's two live sessions are still counted");
  await sleep(2 * epochMs);
  assert.equal(await b.acquire("imap", 9, {}), false, "and stay counted across epochs");
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
