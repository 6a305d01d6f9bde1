import assert from "node:assert/strict";
import { test } from "node:test";
import { TtlCache } from "../src/index.ts";

test("TtlCache: entries expire after their time to live", () => {
  let now = 1000;
  const cache = new TtlCache<string, number>({ ttlMs: 100, maxEntries: 10, now: () => now });
  cache.set("a", 1);
  cache.set("b", 2, 500);
  assert.equal(cache.get("a"), 1);
  now = 1099;
  assert.equal(cache.get("a"), 1);
  now = 1100;
  assert.equal(cache.get("a"), undefined, "expired at exactly its ttl");
  assert.equal(cache.has("a"), false);
  assert.equal(cache.get("b"), 2, "a per-entry ttl outlives the default");
  now = 1500;
  assert.equal(cache.get("b"), undefined);
  assert.equal(cache.size, 0, "expired entries are dropped when read");
});

test("TtlCache: bounded; the oldest write goes first, a rewrite counts as new", () => {
  const cache = new TtlCache<string, string>({ ttlMs: 60_000, maxEntries: 3 });
  cache.set("a", "1");
  cache.set("b", "2");
  cache.set("c", "3");
  cache.set("a", "1'"); // rewritten: now the newest
  cache.set("d", "4"); // evicts b, the oldest write
  assert.equal(cache.size, 3);
  assert.equal(cache.get("b"), undefined);
  assert.equal(cache.get("a"), "1'");
  assert.equal(cache.get("c"), "3");
  assert.equal(cache.get("d"), "4");
  assert.throws(() => new TtlCache({ ttlMs: 1, maxEntries: 0 }), RangeError);
});
