/**
 * The queue workers against real Postgres and s3rver, delivering to local
 * SMTP servers that accept, refuse, defer forever or hang: delivered once
 * and removed; 4xx retried on the schedule and bounced at expiry (4.4.7);
 * a hanging remote times out (RFC 5321 §4.5.3.2) and is retried; a killed
 * worker's lease runs out and another worker delivers; concurrent workers
 * never deliver one entry twice; `<>` and non-local senders get no bounce.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Delivery } from "@aerogram/delivery";
import type { Runtime } from "@aerogram/runtime";
import { requireServer, startSmtpSink, uniqueId } from "@aerogram/testkit";
import { createWorker, parseRoutes, type WorkerOptions } from "../src/index.ts";
import { type OutboundFixture, startOutboundFixture } from "./fixture.ts";

describe("outbound workers", () => {
  let fixture: OutboundFixture | undefined;
  let runtime: Runtime;
  let senderId: number;
  let inboxId: number;

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres"))) return;
    fixture = await startOutboundFixture("outbound-test", 8);
    ({ runtime, senderId, inboxId } = fixture);
  });
  after(async () => {
    await fixture?.stop();
  });

  const worker = (port: number, o: Partial<WorkerOptions> = {}) =>
    createWorker(runtime, {
      routes: parseRoutes(`*=127.0.0.1:${port}`),
      pollMs: 20,
      leaseMs: 3000,
      timeoutMs: 3000,
      retryScheduleMs: [60_000],
      ...o,
    });

  async function enqueue(o: {
    eightBit?: boolean;
    to: string[];
    sender?: string;
    account?: number | null;
    expiresInMs?: number;
    id?: string;
    /** Kept in the queue row itself (as submission keeps small remote-only mail), no blob. */
    inline?: boolean;
  }) {
    const messageId = `<${o.id ?? uniqueId()}@local.test>`;
    const bytes = Buffer.from(
      `From: sender@local.test\r\nSubject: t\r\nMessage-ID: ${messageId}\r\n\r\nhello ${messageId}\r\n`,
    );
    const blob = o.inline ? { key: null, size: bytes.length } : await new Delivery(runtime).storeBlob(bytes);
    const byDomain = new Map<string, string[]>();
    for (const r of o.to) {
      const d = r.slice(r.indexOf("@") + 1);
      byDomain.set(d, [...(byDomain.get(d) ?? []), r]);
    }
    const ids = await runtime.store.outbound.enqueue({
      blobKey: blob.key,
      ...(o.inline ? { content: bytes } : {}),
      size: blob.size,
      sender: o.sender ?? "sender@local.test",
      senderAccountId: o.account === undefined ? senderId : o.account,
      messageId,
      ...(o.eightBit ? { eightBit: true } : {}),
      byDomain,
      expiresAt: new Date(Date.now() + (o.expiresInMs ?? 86_400_000)),
    });
    return { ids, messageId };
  }

  const inboxCount = async () =>
    (
      await runtime.store.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM messages WHERE mailbox_id = $1",
        [inboxId],
      )
    ).rows[0]!.n;

  test("one entry per domain, delivered once and removed", async () => {
    const sink = await startSmtpSink();
    const { messageId } = await enqueue({ to: ["a@one.test", "b@one.test", "c@two.test"] });
    assert.equal(await worker(sink.port).drainDue(), 2);
    assert.equal(sink.messages.length, 2);
    assert.deepEqual(sink.messages.map((m) => m.to.sort()).sort(), [
      ["a@one.test", "b@one.test"],
      ["c@two.test"],
    ]);
    assert.ok(sink.messages.every((m) => m.data.toString().includes(messageId)));
    assert.equal((await runtime.store.outbound.list()).length, 0);
    await sink.close();
  });

  test("a message kept in its queue row: claimed with it, delivered intact, its refusal's DSN quoting it, no blob to release", async () => {
    const sink = await startSmtpSink({ reject: ["gone@inline.test"] });
    const before = await inboxCount();
    const released = async () =>
      (await runtime.store.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM blob_reclaim_queue"))
        .rows[0]!.n;
    const releasedBefore = await released();
    const { ids, messageId } = await enqueue({ to: ["a@inline.test", "gone@inline.test"], inline: true });
    const queued = await runtime.store.outbound.get(ids[0]!);
    assert.equal(queued?.blobKey, null);
    assert.equal(queued?.inline, true);
    assert.match(queued?.content?.toString() ?? "", new RegExp(`hello ${messageId}`));
    // Listings leave the copy out (a thousand rows of it would be megabytes).
    const [listed] = await runtime.store.outbound.list({ domain: "inline.test" });
    assert.equal(listed?.inline, true);
    assert.equal(listed?.content, null);
    assert.equal(await worker(sink.port).drainDue(), 1);
    assert.equal(sink.messages.length, 1);
    assert.deepEqual(sink.messages[0]!.to, ["a@inline.test"]);
    assert.equal(
      sink.messages[0]!.data.toString(),
      `From: sender@local.test\r\nSubject: t\r\nMessage-ID: ${messageId}\r\n\r\nhello ${messageId}\r\n`,
    );
    assert.equal(await runtime.store.outbound.get(ids[0]!), undefined, "completed");
    assert.equal(await released(), releasedBefore, "a row without a blob releases nothing");
    assert.equal(await inboxCount(), before + 1, "one DSN for gone@");
    const { rows } = await runtime.store.pool.query<{ blob_key: string }>(
      "SELECT blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid DESC LIMIT 1",
      [inboxId],
    );
    const dsn = (await runtime.blobs.read(rows[0]!.blob_key)).toString();
    assert.match(dsn, /Final-Recipient: rfc822; gone@inline\.test\r\nAction: failed\r\nStatus: 5\.1\.1/);
    assert.ok(dsn.includes(`Message-ID: ${messageId}`), "the original's headers, read from the row");
    await sink.close();
  });

  test("metrics: queue depth by age, recipients by result and by destination domain", async () => {
    const sink = await startSmtpSink();
    const w = worker(sink.port);
    await enqueue({ to: ["m@metrics.test"] });
    const line = (name: string, labels: string) =>
      new RegExp(`^${name}\\{[^}]*${labels}[^}]*\\} (\\d+)$`, "m");
    let text = await runtime.metrics.metrics();
    assert.equal(line("aerogram_outbound_queue_depth", 'age_le="60"').exec(text)?.[1], "1");
    assert.equal(line("aerogram_outbound_queue_depth", 'age_le="\\+Inf"').exec(text)?.[1], "0");
    await w.drainDue();
    text = await runtime.metrics.metrics();
    assert.equal(line("aerogram_outbound_queue_depth", 'age_le="60"').exec(text)?.[1], "0");
    assert.ok(Number(line("aerogram_outbound_recipients_total", 'result="delivered"').exec(text)?.[1]) >= 1);
    assert.equal(
      line("aerogram_outbound_domain_recipients_total", 'domain="metrics\\.test",result="delivered"').exec(
        text,
      )?.[1],
      "1",
    );
    await sink.close();
  });

  test("connections are reused: 12 messages to one host over far fewer connections", async () => {
    const sink = await startSmtpSink();
    for (let i = 0; i < 12; i++) await enqueue({ to: [`u${i}@reuse.test`] });
    assert.equal(await worker(sink.port, { concurrency: 2, domainConcurrency: 2 }).drainDue(), 12);
    assert.equal(sink.messages.length, 12);
    assert.ok(sink.connections <= 3, `${sink.connections} connections`);
    await sink.close();
  });

  test("rows queued through this process's store wake its running worker before the poll", async () => {
    const sink = await startSmtpSink();
    const w = worker(sink.port, { pollMs: 60_000 });
    w.start();
    // Let the first (empty) claim pass; the next poll would be a minute away.
    await new Promise((r) => setTimeout(r, 300));
    await enqueue({ to: ["n@nudge.test"] });
    const deadline = Date.now() + 5000;
    while (sink.messages.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await w.stop(1000);
    await sink.close();
    assert.equal(sink.messages.length, 1, "delivered within seconds, not at the next poll");
  });

  test("4xx forever: retried on the schedule, then bounced at expiry with 4.4.7", async () => {
    const sink = await startSmtpSink({ deferAll: true });
    const before = await inboxCount();
    const { ids } = await enqueue({ to: ["x@defer.test"], expiresInMs: 1500 });
    const w = worker(sink.port, { retryScheduleMs: [200] });
    await w.drainDue();
    const entry = await runtime.store.outbound.get(ids[0]!);
    assert.ok(entry, "still queued after the first 451");
    assert.equal(entry.attempts, 1);
    assert.match(entry.lastError ?? "", /451 4\.3\.0/);
    for (let i = 0; i < 40 && (await runtime.store.outbound.get(ids[0]!)); i++) {
      await new Promise((r) => setTimeout(r, 100));
      await w.drainDue();
    }
    assert.equal(await runtime.store.outbound.get(ids[0]!), undefined, "gone after expiry");
    assert.equal(await inboxCount(), before + 1, "one expiry DSN");
    const { rows } = await runtime.store.pool.query<{ blob_key: string }>(
      "SELECT blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid DESC LIMIT 1",
      [inboxId],
    );
    const dsn = (await runtime.blobs.read(rows[0]!.blob_key)).toString();
    assert.match(dsn, /Final-Recipient: rfc822; x@defer\.test\r\nAction: failed\r\nStatus: 4\.4\.7/);
    assert.match(dsn, /451 4\.3\.0 try again later/);
    await sink.close();
  });

  test("a remote that hangs times out and the entry is retried later, not lost", async () => {
    const sink = await startSmtpSink({ hang: true });
    const { ids } = await enqueue({ to: ["y@hang.test"] });
    const started = Date.now();
    await worker(sink.port, { timeoutMs: 300 }).drainDue();
    assert.ok(Date.now() - started < 5000);
    const entry = await runtime.store.outbound.get(ids[0]!);
    assert.ok(entry);
    assert.ok(entry.nextAttemptAt.getTime() > Date.now() + 30_000, "next attempt on the schedule");
    assert.equal(entry.leaseOwner, null);
    await runtime.store.outbound.remove(ids[0]!);
    await sink.close();
  });

  test("a worker that died holding a lease: another worker delivers once the lease runs out", async () => {
    const sink = await startSmtpSink();
    const { ids } = await enqueue({ to: ["z@lease.test"] });
    const dead = await runtime.store.outbound.claim({
      owner: "dead-worker",
      leaseMs: 600,
      limit: 10,
      perDomainLimit: 10,
    });
    assert.deepEqual(
      dead.map((e) => e.id),
      ids,
    );
    const live = worker(sink.port);
    assert.equal(await live.drainDue(), 0, "leased entries are not taken");
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await live.drainDue(), 1);
    assert.equal(sink.messages.length, 1);
    assert.equal(
      await runtime.store.outbound.complete(ids[0]!, "dead-worker"),
      false,
      "the old holder is fenced off",
    );
    await sink.close();
  });

  test("three concurrent workers share 150 entries: every one delivered exactly once", async () => {
    const seen = new Map<string, number>();
    const sink = await startSmtpSink({
      onMessage: (m) => {
        const id = /Message-ID: (<[^>]+>)/.exec(m.data.toString())![1]!;
        for (const r of m.to) seen.set(`${id} ${r}`, (seen.get(`${id} ${r}`) ?? 0) + 1);
      },
    });
    for (let i = 0; i < 150; i++) await enqueue({ to: [`r${i % 7}@d${i % 5}.test`] });
    const workers = [0, 1, 2].map(() => worker(sink.port, { concurrency: 10, domainConcurrency: 3 }));
    for (const w of workers) w.start();
    for (let i = 0; i < 200 && (await runtime.store.outbound.list()).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(workers.map((w) => w.stop(1000)));
    assert.equal(seen.size, 150);
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      "no duplicates",
    );
    await sink.close();
  });

  test("8-bit mail: BODY=8BITMIME where offered; refused with 5.6.3 (and a DSN) where not, never sent", async () => {
    const modern = await startSmtpSink();
    await enqueue({ to: ["n@eight.test"], eightBit: true });
    await worker(modern.port).drainDue();
    assert.equal(modern.messages.length, 1);
    assert.equal(modern.messages[0]!.eightBitMime, true);
    await modern.close();
    const old = await startSmtpSink({ no8bitmime: true });
    const before = await inboxCount();
    await enqueue({ to: ["o@old.test"], eightBit: true });
    await worker(old.port).drainDue();
    assert.equal(old.messages.length, 0);
    assert.equal(await inboxCount(), before + 1, "a DSN");
    const { rows } = await runtime.store.pool.query<{ blob_key: string }>(
      "SELECT blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid DESC LIMIT 1",
      [inboxId],
    );
    assert.match((await runtime.blobs.read(rows[0]!.blob_key)).toString(), /Status: 5\.6\.3/);
    await old.close();
  });

  test("a message whose blob cannot be read stays queued with the reason, and the worker goes on", async () => {
    const sink = await startSmtpSink();
    const [poison] = await runtime.store.outbound.enqueue({
      blobKey: "f".repeat(64),
      size: 10,
      sender: "sender@local.test",
      senderAccountId: senderId,
      messageId: "<poison@local.test>",
      byDomain: new Map([["poison.test", ["p@poison.test"]]]),
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    await enqueue({ to: ["fine@poison.test"] });
    assert.equal(await worker(sink.port).drainDue(), 2);
    assert.equal(sink.messages.length, 1, "the other message went out");
    const entry = await runtime.store.outbound.get(poison!);
    assert.ok(entry, "not lost");
    assert.match(entry.lastError ?? "", /unreadable/);
    assert.equal(entry.leaseOwner, null);
    await runtime.store.outbound.remove(poison!);
    await sink.close();
  });

  test("no bounce for the null sender or a sender that is not a local account", async () => {
    const sink = await startSmtpSink({ reject: ["gone@refuse.test"] });
    const before = await inboxCount();
    await enqueue({ to: ["gone@refuse.test"], sender: "" });
    await enqueue({ to: ["gone@refuse.test"], sender: "someone@elsewhere.test", account: null });
    assert.equal(await worker(sink.port).drainDue(), 2);
    assert.equal(await inboxCount(), before);
    assert.equal((await runtime.store.outbound.list()).length, 0);
    await sink.close();
  });
});
