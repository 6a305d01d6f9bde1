/**
 * The pure parts: the dedupe key, reverse names, the cached, time-boxed
 * resolver and the authentication checks against a test resolver (the shared
 * SMTP pieces are tested in libs/smtp).
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "node:test";
import { MemoryLimiter } from "@aerogram/limits";
import { createLogger } from "@aerogram/observability";
import { dkimSign } from "mailauth/lib/dkim/sign.js";
import { AuthVerdictCache, authInput, checkAuthentication } from "../src/auth-results.ts";
import { dedupeKey } from "../src/dedupe.ts";
import { createCachedResolver } from "../src/dns-resolver.ts";
import { RateLimits } from "../src/rate-limits.ts";
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

test("authentication checks: a message without a signature is checked on its header alone, a signed one on its body too", async () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const spki = publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const txt: Record<string, string[][]> = {
    "sel._domainkey.signer.test": [[`v=DKIM1; k=rsa; p=${spki}`]],
    "signer.test": [["v=spf1 ip4:192.0.2.10 -all"]],
    "_dmarc.signer.test": [["v=DMARC1; p=reject"]],
  };
  const resolver = async (name: string, rrtype: string) => {
    const answer = rrtype === "TXT" ? txt[name.toLowerCase()] : undefined;
    if (answer) return answer;
    throw Object.assign(new Error(`${name} ${rrtype}: not found`), { code: "ENOTFOUND" });
  };
  const body = `${"A line of the body.\r\n".repeat(50)}`;
  const unsigned = Buffer.from(
    `From: <alice@signer.test>\r\nTo: <bob@example.test>\r\nSubject: hi\r\n\r\n${body}`,
  );
  const input = {
    ip: "192.0.2.10",
    helo: "mx.signer.test",
    sender: "alice@signer.test",
    hostname: "mx.test",
  };
  const opts = { resolver, timeBoxMs: 3000 };

  // Unsigned: only the header block and its empty line go to mailauth; the verdicts are those of the whole.
  const header = authInput(unsigned);
  assert.equal(header.toString(), unsigned.toString().slice(0, unsigned.indexOf("\r\n\r\n") + 4));
  const fromHeader = await checkAuthentication(unsigned, input, opts);
  const fromStream = await checkAuthentication(Readable.from([unsigned]), input, opts);
  assert.deepEqual(
    [fromHeader.spf, fromHeader.dkim, fromHeader.dmarc, fromHeader.arc],
    ["pass", "none", "pass", "none"],
  );
  assert.deepEqual(
    [fromStream.spf, fromStream.dkim, fromStream.dmarc, fromStream.arc],
    [fromHeader.spf, fromHeader.dkim, fromHeader.dmarc, fromHeader.arc],
  );
  assert.equal(authInput(Buffer.from("Subject: no body")).toString(), "Subject: no body");

  // Signed: the whole message goes, so the body hash is checked (a changed body fails).
  // mailauth reads signatureData (its .d.ts declares top-level fields it ignores).
  const pem = privateKey.export({ type: "pkcs8", format: "pem" });
  const signed = await dkimSign(unsigned, {
    signatureData: [{ signingDomain: "signer.test", selector: "sel", privateKey: pem }],
  } as never);
  assert.deepEqual(signed.errors, []);
  const message = Buffer.concat([Buffer.from(signed.signatures), unsigned]);
  assert.equal(authInput(message), message, "a DKIM-Signature: the whole message");
  const good = await checkAuthentication(message, input, opts);
  assert.equal(good.dkim, "pass");
  assert.equal(good.dmarc, "pass");
  const tampered = Buffer.from(message.toString().replace("A line of the body.", "A line of the bodY."));
  const bad = await checkAuthentication(tampered, { ...input, ip: "198.51.100.1" }, opts);
  // mailauth reports a body hash mismatch as neutral (RFC 6376 §6.1.3), with the reason.
  assert.equal(bad.dkim, "neutral", "the body was hashed");
  assert.match(bad.headers, /body hash did not verify/);
  assert.equal(bad.spf, "fail");
  assert.equal(bad.dmarc, "fail");
  const arc = Buffer.from(`ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=s; b=abc\r\n${unsigned}`);
  assert.equal(authInput(arc), arc, "an ARC set: the whole message");
});

test("authentication cache: an unsigned message reuses the verdicts of one with the same client, envelope and From:, nothing else does", async () => {
  const txt: Record<string, string[][]> = {
    "a.test": [["v=spf1 ip4:192.0.2.10 -all"]],
    "_dmarc.a.test": [["v=DMARC1; p=reject"]],
    "b.test": [["v=spf1 -all"]],
    "_dmarc.b.test": [["v=DMARC1; p=quarantine"]],
  };
  let lookups = 0;
  let failing = false;
  const resolver = async (name: string, rrtype: string) => {
    lookups++;
    if (failing) throw Object.assign(new Error("servfail"), { code: "ESERVFAIL" });
    const answer = rrtype === "TXT" ? txt[name.toLowerCase()] : undefined;
    if (answer) return answer;
    throw Object.assign(new Error(`${name} ${rrtype}: not found`), { code: "ENOTFOUND" });
  };
  const cache = new AuthVerdictCache({ ttlMs: 60_000 });
  const opts = { resolver, timeBoxMs: 3000, cache };
  const input = { ip: "192.0.2.10", helo: "mx.a.test", sender: "x@a.test", hostname: "mx.test" };
  const msg = (from: string, body: string) =>
    Buffer.from(`From: ${from}\r\nMessage-ID: <${body}@a.test>\r\nSubject: s\r\n\r\n${body}\r\n`);
  const uncached = { resolver, timeBoxMs: 3000 };
  const key = (v: { spf: string; dkim: string; dmarc: string; arc: string; headers: string }) =>
    [v.spf, v.dkim, v.dmarc, v.arc, v.headers].join("|");

  const first = await checkAuthentication(msg("<x@a.test>", "one"), input, opts);
  assert.equal(first.dmarc, "pass");
  const before = lookups;
  const again = await checkAuthentication(msg("<x@a.test>", "two"), input, opts);
  assert.equal(lookups, before, "same client, envelope and From: no new check");
  assert.equal(key(again), key(await checkAuthentication(msg("<x@a.test>", "two"), input, uncached)));
  assert.deepEqual(cache.stats, { hits: 1, misses: 1 });

  // Another From:, IP, HELO or sender is checked on its own, with its own verdicts.
  const otherFrom = await checkAuthentication(msg("<y@b.test>", "three"), input, opts);
  assert.equal(otherFrom.dmarc, "fail");
  assert.equal(key(otherFrom), key(await checkAuthentication(msg("<y@b.test>", "three"), input, uncached)));
  const otherIp = await checkAuthentication(
    msg("<x@a.test>", "four"),
    { ...input, ip: "198.51.100.7" },
    opts,
  );
  assert.equal(otherIp.spf, "fail");
  await checkAuthentication(msg("<x@a.test>", "five"), { ...input, helo: "other.a.test" }, opts);
  await checkAuthentication(msg("<x@a.test>", "six"), { ...input, sender: "z@a.test" }, opts);
  assert.deepEqual(cache.stats, { hits: 1, misses: 5 });
  // Two From: fields are not one.
  await checkAuthentication(Buffer.from("From: <x@a.test>\r\nFrom: <y@b.test>\r\n\r\nbody\r\n"), input, opts);
  assert.equal(cache.stats.misses, 6);

  // The null reverse-path and signed messages are never cached.
  const nul = { ...input, sender: "" };
  await checkAuthentication(msg("<x@a.test>", "seven"), nul, opts);
  await checkAuthentication(msg("<x@a.test>", "eight"), nul, opts);
  const signed = Buffer.from(
    `DKIM-Signature: v=1; a=rsa-sha256; d=a.test; s=s; h=from; bh=x; b=y\r\n${msg("<x@a.test>", "nine")}`,
  );
  await checkAuthentication(signed, input, opts);
  await checkAuthentication(signed, input, opts);
  assert.equal(cache.stats.misses + cache.stats.hits, 7, "none of these went through the cache");

  // A temperror is not kept: the next message is checked again.
  failing = true;
  const tInput = { ...input, ip: "192.0.2.99" };
  const t1 = await checkAuthentication(msg("<x@a.test>", "ten"), tInput, opts);
  assert.equal(t1.spf, "temperror");
  failing = false;
  const t2 = await checkAuthentication(msg("<x@a.test>", "eleven"), tInput, opts);
  assert.notEqual(t2.spf, "temperror");
});

test("per-recipient rate: budgets taken ahead never let more through than the limit, across replicas, and go back unspent", async () => {
  const limiter = new MemoryLimiter();
  const log = createLogger({ level: "silent" });
  // 1200 a minute: budgets grow to 16 tokens (≤ 5% of the bucket).
  const opts = { connectionsPerIp: 0, messagesPerMinutePerIp: 0, messagesPerMinutePerRecipient: 1200 };
  const a = new RateLimits(limiter, opts, log);
  const b = new RateLimits(limiter, opts, log);
  let calls = 0;
  const take = limiter.take.bind(limiter);
  limiter.take = (...args) => {
    calls++;
    return take(...args);
  };
  let allowed = 0;
  for (let i = 0; i < 1300; i++) if (await (i % 3 ? a : b).messageToAccount(7)) allowed++;
  // The bucket refills 20 a second: a few more than the 1200 may be due while this runs, never 1300.
  assert.ok(allowed >= 1200 && allowed < 1240, `allowed ${allowed}`);
  assert.ok(calls < 1300 / 4, `${calls} limiter calls for 1300 messages: budgets were taken`);
  // Unspent budgets go back: another account, a few messages, then both replicas close.
  const fresh = async (n: number, who: RateLimits) => {
    for (let i = 0; i < n; i++) assert.ok(await who.messageToAccount(8));
  };
  await fresh(5, a); // budgets 1, 2, 4: 7 tokens taken, 5 spent
  a.close();
  b.close();
  await new Promise((r) => setImmediate(r));
  const left = await limiter.take("smtp:msg-rcpt:8", 1200, 20, 0);
  assert.ok(
    left.remaining >= 1195 && left.remaining <= 1196,
    `remaining ${left.remaining}: the 2 unspent came back`,
  );
  // A limit too small for budgets: one call per message, exactly the limit.
  const small = new RateLimits(limiter, { ...opts, messagesPerMinutePerRecipient: 3 }, log);
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await small.messageToAccount(9));
  assert.deepEqual(results, [true, true, true, false, false]);
  small.close();
  // SMTP_RECIPIENT_BUDGET_MAX=0: never ahead, one limiter call per message however busy.
  const exact = new RateLimits(limiter, { ...opts, recipientBudgetMax: 0 }, log);
  calls = 0;
  for (let i = 0; i < 50; i++) assert.ok(await exact.messageToAccount(10));
  assert.equal(calls, 50, "budgets off: a call per message");
  exact.close();
  await limiter.close();
});
