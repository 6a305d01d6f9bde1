import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLimiter, MemoryLimiter } from "../src/index.ts";
import { limiterContract } from "./contract.ts";

test("MemoryLimiter", async (t) => {
  await limiterContract(t, async () => new MemoryLimiter());

  await t.test("one key cannot be both a counter and a bucket (as in Redis)", async () => {
    const limiter = new MemoryLimiter();
    await limiter.incr("k", 1, 10_000);
    await assert.rejects(limiter.take("k", 5, 1), /WRONGTYPE/);
    await limiter.reset("k");
    await limiter.take("k", 5, 1);
    await assert.rejects(limiter.get("k"), /WRONGTYPE/);
    await limiter.close();
  });

  await t.test("the sweep forgets expired entries nobody touches again", async () => {
    const limiter = new MemoryLimiter({ sweepIntervalMs: 50 });
    const lease = await limiter.acquire("l", 100);
    assert.ok(lease);
    await limiter.incr("c", 1, 100);
    await sleep(400);
    // Fencing counters survive the sweep: the next holder still gets a larger token.
    const next = await limiter.acquire("l", 100);
    assert.ok(next && next.fencingToken > lease.fencingToken);
    assert.equal(await limiter.get("c"), 0);
    await limiter.close();
  });

  await t.test("a closed limiter rejects calls", async () => {
    const limiter = new MemoryLimiter();
    const lease = await limiter.acquire("l", 10_000);
    await limiter.close();
    await assert.rejects(limiter.ping(), /closed/);
    await assert.rejects(limiter.take("b", 1, 1), /closed/);
    await assert.rejects(lease!.renew(), /closed/);
  });

  await t.test("createLimiter builds it for the memory configuration", async () => {
    const limiter = await createLimiter({ kind: "memory", keyPrefix: "aerogram:" });
    assert.ok(limiter instanceof MemoryLimiter);
    await limiter.close();
  });
});
