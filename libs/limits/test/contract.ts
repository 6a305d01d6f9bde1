/**
 * The behaviour every Limiter must have, run against each implementation so
 * the in-process twin stays true to Redis. Timings use wide margins: files run
 * in parallel on a small machine.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { acquireUnlessBlocked, type Limiter } from "../src/index.ts";

let nextKey = 0;
/** A fresh key per test, so tests never see each other's state. */
const freshKey = (what: string) => `${what}-${nextKey++}`;

export async function limiterContract(t: TestContext, makeLimiter: () => Promise<Limiter>): Promise<void> {
  const limiter = await makeLimiter();
  t.after(() => limiter.close());

  await t.test("ping resolves", () => limiter.ping());

  await t.test("token bucket allows its capacity, then denies with a retry time", async () => {
    const key = freshKey("bucket");
    // 2 tokens/s: a token takes 500 ms, far more than the takes below need.
    for (const remaining of [2, 1, 0]) {
      assert.deepEqual(await limiter.take(key, 3, 2), { allowed: true, remaining, retryAfterMs: 0 });
    }
    const denied = await limiter.take(key, 3, 2);
    assert.equal(denied.allowed, false);
    assert.equal(denied.remaining, 0);
    assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 500, `retryAfterMs ${denied.retryAfterMs}`);
  });

  await t.test("token bucket refills over time", async () => {
    const key = freshKey("bucket");
    assert.equal((await limiter.take(key, 2, 4, 2)).allowed, true);
    const denied = await limiter.take(key, 2, 4);
    assert.equal(denied.allowed, false);
    await sleep(denied.retryAfterMs + 50);
    assert.equal((await limiter.take(key, 2, 4)).allowed, true, "one token back after retryAfterMs");
    // Left alone long enough it is full again (capacity, not more).
    await sleep(600);
    const full = await limiter.take(key, 2, 4, 0);
    assert.deepEqual(full, { allowed: true, remaining: 2, retryAfterMs: 0 });
  });

  await t.test("token bucket cost counts several tokens at once", async () => {
    const key = freshKey("bucket");
    assert.deepEqual(await limiter.take(key, 10, 1, 7), { allowed: true, remaining: 3, retryAfterMs: 0 });
    const denied = await limiter.take(key, 10, 1, 5);
    assert.equal(denied.allowed, false);
    assert.equal(denied.remaining, 3, "a denied take takes nothing");
    assert.ok(
      denied.retryAfterMs > 1000 && denied.retryAfterMs <= 2000,
      `retryAfterMs ${denied.retryAfterMs}`,
    );
    assert.equal((await limiter.take(key, 10, 1, 3)).allowed, true);
  });

  await t.test("reset refills a bucket", async () => {
    const key = freshKey("bucket");
    await limiter.take(key, 1, 0.01);
    assert.equal((await limiter.take(key, 1, 0.01)).allowed, false);
    await limiter.reset(key);
    assert.equal((await limiter.take(key, 1, 0.01)).allowed, true);
  });

  await t.test("token bucket rejects impossible arguments", async () => {
    const key = freshKey("bucket");
    await assert.rejects(limiter.take(key, 0, 1), RangeError);
    await assert.rejects(limiter.take(key, 5, 0), RangeError);
    await assert.rejects(limiter.take(key, 5, 1, 6), RangeError, "cost above capacity can never be allowed");
    await assert.rejects(limiter.take("", 5, 1), RangeError);
  });

  await t.test("incr, get and reset a counter", async () => {
    const key = freshKey("counter");
    assert.equal(await limiter.get(key), 0);
    assert.equal(await limiter.incr(key, 2, 60_000), 2);
    assert.equal(await limiter.incr(key, -5, 60_000), -3);
    assert.equal(await limiter.get(key), -3);
    await limiter.reset(key);
    assert.equal(await limiter.get(key), 0);
    await limiter.reset(key); // absent: fine
    await assert.rejects(limiter.incr(key, 1.5, 1000), RangeError);
    await assert.rejects(limiter.incr(key, 1, 0), RangeError);
  });

  await t.test("getMany reads several counters at once, in order, 0 for absent ones", async () => {
    const [a, b, absent] = [freshKey("counter"), freshKey("counter"), freshKey("counter")];
    await limiter.incr(a, 3, 60_000);
    await limiter.incr(b, -2, 60_000);
    assert.deepEqual(await limiter.getMany([b, absent, a]), [-2, 0, 3]);
    assert.deepEqual(await limiter.getMany([]), []);
    await assert.rejects(limiter.getMany([a, ""]), RangeError);
  });

  await t.test("a counter expires ttl after its last change", async () => {
    const key = freshKey("counter");
    await limiter.incr(key, 1, 500);
    await sleep(250);
    await limiter.incr(key, 1, 500); // pushes expiry out again
    await sleep(300); // 550 ms after the first change, 300 after the last
    assert.equal(await limiter.get(key), 2);
    await sleep(500);
    assert.equal(await limiter.get(key), 0);
    assert.equal(await limiter.incr(key, 1, 500), 1, "starts again from zero");
  });

  await t.test("a lease is exclusive until released", async () => {
    const key = freshKey("lease");
    const first = await limiter.acquire(key, 10_000);
    assert.ok(first);
    assert.equal(first.key, key);
    assert.equal(await limiter.acquire(key, 10_000), undefined);
    assert.equal(await first.renew(), true);
    await first.release();
    await first.release(); // idempotent
    assert.equal(await first.renew(), false, "a released lease cannot be renewed");
    const second = await limiter.acquire(key, 10_000);
    assert.ok(second);
    await second.release();
  });

  await t.test("fencing tokens strictly increase across acquisitions", async () => {
    const key = freshKey("lease");
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const lease = await limiter.acquire(key, 10_000);
      assert.ok(lease);
      tokens.push(lease.fencingToken);
      await lease.release();
    }
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens ${tokens}`);
    // Other keys have their own counters; they do not disturb this one.
    const other = await limiter.acquire(freshKey("lease"), 10_000);
    assert.ok(other);
    const next = await limiter.acquire(key, 10_000);
    assert.ok(next && next.fencingToken > tokens.at(-1)!);
  });

  await t.test("renewing keeps a lease past its ttl", async () => {
    const key = freshKey("lease");
    const lease = await limiter.acquire(key, 500);
    assert.ok(lease);
    for (let i = 0; i < 4; i++) {
      await sleep(200);
      assert.equal(await lease.renew(), true);
    }
    // 800 ms in: well past the original 500 ms ttl.
    assert.equal(await limiter.acquire(key, 10_000), undefined);
    await lease.release();
  });

  await t.test("an expired lease goes to the next taker; the old holder cannot touch it", async () => {
    const key = freshKey("lease");
    const old = await limiter.acquire(key, 100);
    assert.ok(old);
    await sleep(300);
    const taker = await limiter.acquire(key, 10_000);
    assert.ok(taker, "expired lease can be acquired");
    assert.ok(taker.fencingToken > old.fencingToken);
    assert.equal(await old.renew(), false);
    await old.release();
    assert.equal(
      await limiter.acquire(key, 10_000),
      undefined,
      "old holder's release left the new lock alone",
    );
    assert.equal(await taker.renew(), true);
    await taker.release();
  });

  await t.test("a handover left at release reaches later holders; the largest one is kept", async () => {
    const key = freshKey("lease");
    const first = await limiter.acquire(key, 10_000);
    assert.ok(first);
    assert.equal(first.handover, 0, "nothing left yet");
    await first.release(41);
    const second = await limiter.acquire(key, 10_000);
    assert.ok(second);
    assert.equal(second.handover, 41);
    // A release without one keeps what was left; a smaller one doesn't replace a larger.
    await second.release();
    const third = await limiter.acquire(key, 10_000);
    assert.equal(third?.handover, 41);
    await third!.release(7);
    const fourth = await limiter.acquire(key, 10_000);
    assert.equal(fourth?.handover, 41);
    // A holder whose lease was lost still leaves its handover (its write must not be missed).
    await fourth!.release(50);
    const fifth = await limiter.acquire(key, 100);
    assert.ok(fifth);
    await sleep(300);
    const taker = await limiter.acquire(key, 10_000);
    assert.ok(taker);
    await fifth.release(60);
    await taker.release();
    const sixth = await limiter.acquire(key, 10_000);
    assert.equal(sixth?.handover, 60);
    await sixth!.release();
    // Each key has its own.
    const other = await limiter.acquire(freshKey("lease"), 10_000);
    assert.equal(other?.handover, 0);
    await other!.release();
    await assert.rejects(async () => sixth!.release(-1), RangeError);
  });

  await t.test(
    "acquireUnlessBlocked: counters and blocks read, the lease taken only when no block is above 0",
    async () => {
      // The limiter's own (atomic) one, and the fallback for a limiter without it.
      const withoutIt: Limiter = {
        ...limiter,
        getMany: (keys) => limiter.getMany(keys),
        acquire: (key, ttl) => limiter.acquire(key, ttl),
        acquireUnlessBlocked: undefined,
      };
      for (const target of [limiter, withoutIt]) {
        const key = freshKey("gated");
        const [failures, blockA, blockB] = [freshKey("fail"), freshKey("block"), freshKey("block")];
        await limiter.incr(failures, 3, 10_000);
        const free = await acquireUnlessBlocked(target, key, 10_000, [failures], [blockA, blockB]);
        assert.deepEqual([free.counters, free.blocks], [[3], [0, 0]]);
        assert.ok(free.lease, "no block: the lease is taken");
        assert.equal(free.lease.handover, 0);
        assert.equal(await limiter.acquire(key, 10_000), undefined, "and held");
        const held = await acquireUnlessBlocked(target, key, 10_000, [failures], [blockA, blockB]);
        assert.deepEqual([held.counters, held.blocks, held.lease], [[3], [0, 0], undefined]);
        await free.lease.release(9);
        // A counter above 0 is only read; a block above 0 stops the acquire.
        await limiter.incr(blockB, 1500, 10_000);
        const blocked = await acquireUnlessBlocked(target, key, 10_000, [failures], [blockA, blockB]);
        assert.deepEqual([blocked.counters, blocked.blocks, blocked.lease], [[3], [0, 1500], undefined]);
        const after = await limiter.acquire(key, 10_000);
        assert.ok(after, "the blocked attempt took nothing");
        assert.equal(after.handover, 9);
        await after.release();
        await limiter.reset(blockB);
        const again = await acquireUnlessBlocked(target, key, 10_000, [], [blockA, blockB]);
        assert.ok(again.lease);
        assert.ok(again.lease.fencingToken > after.fencingToken, "fencing goes on increasing");
        assert.equal(again.lease.handover, 9);
        assert.equal(await again.lease.renew(), true);
        await again.lease.release();
        assert.equal(await again.lease.renew(), false, "released");
      }
    },
  );

  await t.test("slots: at most limit held per key; a release frees one; release is idempotent", async () => {
    const key = freshKey("slots");
    const first = await limiter.holdSlot(key, 2);
    const second = await limiter.holdSlot(key, 2);
    assert.ok(first && second);
    assert.equal(await limiter.holdSlot(key, 2), undefined, "a third holder is refused");
    assert.ok(await limiter.holdSlot(freshKey("slots"), 2), "other keys are counted apart");
    await first.release();
    await first.release();
    const third = await limiter.holdSlot(key, 2);
    assert.ok(third, "the released slot is free again, and only one");
    assert.equal(await limiter.holdSlot(key, 2), undefined);
    assert.ok(await limiter.holdSlot(key, 3), "the limit is the caller's: a higher one lets one more in");
    await assert.rejects(limiter.holdSlot(key, 0), RangeError);
    await assert.rejects(limiter.holdSlot("", 1), RangeError);
  });

  await t.test(
    "holdSlotAndTake: a slot and a token in one call; no token when the slot is refused; an unused token is refunded at release",
    async () => {
      assert.ok(limiter.holdSlotAndTake, "both limiters implement it");
      const hold = limiter.holdSlotAndTake.bind(limiter);
      const slots = freshKey("conn");
      const bucket = freshKey("msgs");
      // A bucket of 2 that refills one token per 1000 s: nothing refills during the test.
      const first = await hold(slots, 2, bucket, 2, 0.001);
      const second = await hold(slots, 2, bucket, 2, 0.001);
      assert.ok(first && second);
      assert.deepEqual([first.token.allowed, second.token.allowed], [true, true]);
      assert.equal(second.token.remaining, 0);
      assert.equal(await hold(slots, 2, bucket, 2, 0.001), undefined, "a third connection is refused");
      await first.release(false);
      const third = await hold(slots, 2, bucket, 2, 0.001);
      assert.ok(third, "the released slot is free again");
      assert.equal(third.token.allowed, false, "the bucket is empty: the slot is held, the token refused");
      assert.ok(third.token.retryAfterMs > 0);
      // Refund the token second never used: one token back, and only once.
      await second.release(true);
      await second.release(true);
      await third.release(true); // its token was refused: nothing to give back
      const r = await limiter.take(bucket, 2, 0.001);
      assert.equal(r.allowed, true, "the refunded token is there");
      assert.equal((await limiter.take(bucket, 2, 0.001)).allowed, false, "and only one");
      // A refund never fills a bucket above capacity.
      const full = freshKey("msgs");
      const a = await hold(freshKey("conn"), 5, full, 3, 1000);
      assert.ok(a?.token.allowed);
      await sleep(20);
      await a.release(true);
      assert.equal((await limiter.take(full, 3, 1000)).remaining, 2, "capacity 3, one taken: 2 left");
      await assert.rejects(hold(slots, 0, bucket, 2, 1), RangeError);
      await assert.rejects(hold(slots, 1, "", 2, 1), RangeError);
    },
  );

  await t.test("refund: tokens taken ahead go back, never above capacity", async () => {
    assert.ok(limiter.refund, "both limiters implement it");
    const key = freshKey("budget");
    assert.equal((await limiter.take(key, 10, 0.001, 8)).remaining, 2);
    await limiter.refund(key, 10, 0.001, 5);
    assert.equal((await limiter.take(key, 10, 0.001, 0)).remaining, 7, "5 of the 8 came back");
    await limiter.refund(key, 10, 0.001, 10);
    assert.equal((await limiter.take(key, 10, 0.001, 1)).remaining, 9, "at most capacity");
    await limiter.refund(freshKey("budget"), 10, 0.001, 3); // a full (absent) bucket stays full
    await assert.rejects(limiter.refund(key, 10, 0.001, 11), RangeError);
  });
}
