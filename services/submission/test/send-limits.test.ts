/**
 * SendLimits' reservation against the in-memory limiter (the same contract as
 * Redis): far fewer round trips than messages, never more allowed than the
 * bucket holds even with several processes reserving, and the last tokens of
 * a bucket still usable.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryLimiter } from "@aerogram/limits";
import { createLogger } from "@aerogram/observability";
import { reserveFor, SendLimits } from "../src/send-limits.ts";

const log = createLogger({ level: "silent" });

test("reservation: fewer round trips, never over the bucket across processes, the tail usable", async () => {
  const limiter = new MemoryLimiter();
  const opts = { messagesPerHour: 1000, recipientsPerMessage: 100, recipientsPerDay: 100_000 };
  assert.equal(reserveFor(opts.messagesPerHour), 20);
  assert.equal(reserveFor(2), 0, "small buckets are charged exactly");
  // Three "processes" sharing one limiter, charging the same account in turn.
  const processes = [0, 1, 2].map(() => new SendLimits(limiter, opts, log));
  let allowed = 0;
  for (let i = 0; i < 1200; i++) {
    const v = await processes[i % 3]!.charge(7, 1);
    if (v.ok) allowed++;
    else assert.equal(v.limit, "messages_per_hour");
  }
  assert.ok(allowed <= 1000, `${allowed} allowed, the bucket holds 1000`);
  // Refill over the test's run is a few tokens at most; early refusals at most 3 reserves.
  assert.ok(allowed >= 1000 - 3 * 20, `${allowed} allowed`);
  const calls = processes.reduce((n, p) => n + p.calls, 0);
  assert.ok(calls < 1200, `${calls} round trips for 1200 charges`);
  await limiter.close();
});

test("a small bucket is exact: the third message of two per hour is refused", async () => {
  const limiter = new MemoryLimiter();
  const limits = new SendLimits(
    limiter,
    { messagesPerHour: 2, recipientsPerMessage: 10, recipientsPerDay: 1000 },
    log,
  );
  assert.equal((await limits.charge(1, 1)).ok, true);
  assert.equal((await limits.charge(1, 1)).ok, true);
  const third = await limits.charge(1, 1);
  assert.equal(third.ok, false);
  await limiter.close();
});
