/**
 * The pure parts: the dedupe key, reverse names and the cached, time-boxed
 * resolver (the shared SMTP pieces are tested in libs/smtp).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { dedupeKey } from "../src/dedupe.ts";
import { createCachedResolver } from "../src/dns-resolver.ts";
import { reverseName } from "../src/smtp-in.ts";

test("dedupe key: recipient order and case don't matter; body, sender, recipients and Message-ID do", () => {
  const base = { payloadSha256: "ab", sender: "S@x.test", recipients: ["a@x", "B@x"], messageId: "<m@x>" };
  const k = dedupeKey(base);
  assert.equal(k, dedupeKey({ ...base, recipients: ["b@x", "a@x"], sender: "s@x.test" }));
  assert.notEqual(k, dedupeKey({ ...base, payloadSha256: "ac" }));
  assert.notEqual(k, dedupeKey({ ...base, sender: "" }));
  assert.notEqual(k, dedupeKey({ ...base, recipients: ["a@x"] }));
  assert.notEqual(k, dedupeKey({ ...base, messageId: null }));
});

test("reverse names for IPv4, IPv6 and v4-mapped addresses", () => {
  assert.equal(reverseName("192.0.2.7"), "7.2.0.192.in-addr.arpa");
  assert.equal(reverseName("::ffff:192.0.2.7"), "7.2.0.192.in-addr.arpa");
  assert.equal(
    reverseName("2001:db8::1"),
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
  );
});

test("resolver: time-boxed, failures and answers cached, concurrent lookups share one query", async () => {
  let calls = 0;
  const hang = createCachedResolver({
    timeoutMs: 50,
    lookup: () => {
      calls++;
      return new Promise(() => {});
    },
  });
  const t0 = Date.now();
  await assert.rejects(hang("example.com", "TXT"), /timed out/);
  assert.ok(Date.now() - t0 < 1000);
  await assert.rejects(hang("EXAMPLE.com", "TXT"), /timed out/);
  assert.equal(calls, 1, "the failure is cached");
  let answers = 0;
  const ok = createCachedResolver({
    lookup: async () => {
      answers++;
      return [["v=spf1 -all"]];
    },
  });
  const [a, b] = await Promise.all([ok("x.test", "TXT"), ok("x.test", "TXT")]);
  assert.deepEqual(a, [["v=spf1 -all"]]);
  assert.deepEqual(b, a);
  await ok("x.test", "TXT");
  assert.equal(answers, 1);
});
