/**
 * RFC 3461/3464 notices from the queue workers, against real Postgres and
 * s3rver and local SMTP servers (with and without the DSN extension):
 * NOTIFY=NEVER silences a failure notice; NOTIFY=FAILURE with ORCPT, ENVID
 * and RET=FULL gives a DSN carrying Original-Recipient, Original-Envelope-Id
 * and the whole message; NOTIFY=SUCCESS gives a "relayed" notice when the
 * next hop has no DSN and passes the parameters on (no notice of ours) when
 * it has; a delay notice (Action: delayed) goes out once per recipient after
 * the configured delay, only to recipients whose NOTIFY allows it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Delivery } from "@aerogram/delivery";
import type { Runtime } from "@aerogram/runtime";
import type { RecipientDsn } from "@aerogram/store";
import { requireServer, startSmtpSink, uniqueId } from "@aerogram/testkit";
import { createWorker, parseRoutes, type WorkerOptions } from "../src/index.ts";
import { type OutboundFixture, startOutboundFixture } from "./fixture.ts";

describe("DSN requests (RFC 3461) and notices (RFC 3464)", () => {
  let fixture: OutboundFixture | undefined;
  let runtime: Runtime;
  let senderId: number;
  let inboxId: number;

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres"))) return;
    fixture = await startOutboundFixture("outbound-dsn-test", 6);
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
      delayNoticeMs: 0,
      ...o,
    });

  async function enqueue(o: {
    to: string[];
    dsn?: Record<string, RecipientDsn>;
    ret?: "FULL" | "HDRS";
    envid?: string;
    expiresInMs?: number;
    /** Kept in the queue row (no blob), as submission keeps small remote-only mail. */
    inline?: boolean;
  }) {
    const messageId = `<${uniqueId()}@local.test>`;
    const bytes = Buffer.from(
      `From: sender@local.test\r\nSubject: dsn test\r\nMessage-ID: ${messageId}\r\n\r\nthe body ${messageId}\r\n`,
    );
    const blob = o.inline ? { key: null, size: bytes.length } : await new Delivery(runtime).storeBlob(bytes);
    const domain = o.to[0]!.slice(o.to[0]!.indexOf("@") + 1);
    const ids = await runtime.store.outbound.enqueue({
      blobKey: blob.key,
      ...(o.inline ? { content: bytes } : {}),
      size: blob.size,
      sender: "sender@local.test",
      senderAccountId: senderId,
      messageId,
      byDomain: new Map([[domain, o.to]]),
      expiresAt: new Date(Date.now() + (o.expiresInMs ?? 86_400_000)),
      dsnRet: o.ret ?? null,
      dsnEnvid: o.envid ?? null,
      recipientDsn: new Map(Object.entries(o.dsn ?? {})),
    });
    return { id: ids[0]!, messageId };
  }

  /** The INBOX's messages after the first `from`, as text. */
  async function inboxSince(from: number): Promise<string[]> {
    const { rows } = await runtime.store.pool.query<{ blob_key: string }>(
      "SELECT blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid OFFSET $2",
      [inboxId, from],
    );
    return Promise.all(rows.map(async (r) => (await runtime.blobs.read(r.blob_key)).toString("utf8")));
  }
  const inboxCount = async () =>
    (
      await runtime.store.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM messages WHERE mailbox_id = $1",
        [inboxId],
      )
    ).rows[0]!.n;

  test("failures: NOTIFY=NEVER gets no DSN; NOTIFY=FAILURE with ORCPT, ENVID and RET=FULL gets them all back", async (t) => {
    const sink = await startSmtpSink({ reject: ["gone@fail.test", "quiet@fail.test"], noDsn: true });
    t.after(() => sink.close());
    const before = await inboxCount();
    const { messageId } = await enqueue({
      to: ["gone@fail.test", "quiet@fail.test", "ok@fail.test"],
      ret: "FULL",
      envid: "env+2B42",
      dsn: {
        "gone@fail.test": { notify: ["FAILURE"], orcpt: "rfc822;Gone+2Bx@fail.test" },
        "quiet@fail.test": { notify: ["NEVER"] },
      },
    });
    await worker(sink.port).drainDue();
    assert.deepEqual(sink.messages.at(-1)!.to, ["ok@fail.test"]);
    const got = await inboxSince(before);
    assert.equal(got.length, 1, "one DSN, for gone@ only");
    const dsn = got[0]!;
    assert.match(dsn, /Original-Envelope-Id: env\+42\r\n/, "ENVID, xtext-decoded");
    assert.match(
      dsn,
      /Original-Recipient: rfc822;Gone\+x@fail\.test\r\nFinal-Recipient: rfc822; gone@fail\.test\r\nAction: failed\r\nStatus: 5\.1\.1/,
    );
    assert.doesNotMatch(dsn, /quiet@fail\.test/);
    // RET=FULL: the whole message, body included, as message/rfc822.
    assert.match(dsn, new RegExp(`Content-Type: message/rfc822\\r\\n[^]*\\r\\n\\r\\nthe body ${messageId}`));
    assert.doesNotMatch(dsn, /text\/rfc822-headers/);
  });

  test("a message kept in its queue row: RET=FULL returns it whole from the row", async (t) => {
    const sink = await startSmtpSink({ reject: ["gone@inline-fail.test"], noDsn: true });
    t.after(() => sink.close());
    const before = await inboxCount();
    const { messageId } = await enqueue({ to: ["gone@inline-fail.test"], ret: "FULL", inline: true });
    await worker(sink.port).drainDue();
    const got = await inboxSince(before);
    assert.equal(got.length, 1);
    assert.match(got[0]!, /Final-Recipient: rfc822; gone@inline-fail\.test\r\nAction: failed/);
    assert.match(
      got[0]!,
      new RegExp(`Content-Type: message/rfc822\\r\\n[^]*\\r\\n\\r\\nthe body ${messageId}`),
    );
  });

  test("NOTIFY=SUCCESS: a next hop without DSN → our 'relayed' notice; with DSN → the parameters go on, no notice of ours", async (t) => {
    const plain = await startSmtpSink({ noDsn: true });
    t.after(() => plain.close());
    let before = await inboxCount();
    await enqueue({
      to: ["yes@succ.test", "no@succ.test"],
      dsn: { "yes@succ.test": { notify: ["SUCCESS", "FAILURE"] } },
    });
    await worker(plain.port).drainDue();
    assert.deepEqual(plain.messages.at(-1)!.to.sort(), ["no@succ.test", "yes@succ.test"]);
    let got = await inboxSince(before);
    assert.equal(got.length, 1);
    assert.match(got[0]!, /Subject: Successful Mail Delivery Report/);
    assert.match(got[0]!, /Final-Recipient: rfc822; yes@succ\.test\r\nAction: relayed\r\nStatus: 2\.0\.0/);
    assert.doesNotMatch(got[0]!, /no@succ\.test/, "no notice for the recipient that did not ask");

    const capable = await startSmtpSink();

    t.after(() => capable.close());
    before = await inboxCount();
    await enqueue({
      to: ["one@succ.test"],
      ret: "HDRS",
      envid: "track-1",
      dsn: { "one@succ.test": { notify: ["SUCCESS"], orcpt: "rfc822;one@succ.test" } },
    });
    await worker(capable.port).drainDue();
    const dsn = capable.messages.at(-1)!.dsn;
    assert.equal(dsn.ret, "HDRS");
    assert.equal(dsn.envid, "track-1");
    assert.deepEqual(dsn.recipients, [
      { address: "one@succ.test", notify: ["SUCCESS"], orcpt: "rfc822;one@succ.test" },
    ]);
    got = await inboxSince(before);
    assert.equal(got.length, 0, "the DSN-capable next hop reports delivery, we don't");
  });

  test("delay notices: once per recipient after the delay, only where NOTIFY allows; then the expiry DSN", async (t) => {
    const sink = await startSmtpSink({ deferAll: true });
    t.after(() => sink.close());
    const before = await inboxCount();
    const { id } = await enqueue({
      to: ["slow@delay.test", "failonly@delay.test"],
      dsn: { "failonly@delay.test": { notify: ["FAILURE"] } },
      expiresInMs: 60_000,
    });
    // 3 s: long enough that the first attempt comes before it even on a loaded machine.
    const w = worker(sink.port, { delayNoticeMs: 3000, retryScheduleMs: [30_000] });
    await w.drainDue();
    assert.equal(await inboxCount(), before, "too early for a delay notice");
    // The next attempt is pulled forward to when the notice is due, not the 30 s schedule.
    const entry = (await runtime.store.outbound.get(id))!;
    assert.ok(
      entry.nextAttemptAt.getTime() - entry.createdAt.getTime() < 10_000,
      `${entry.nextAttemptAt.toISOString()}`,
    );
    for (let i = 0; i < 300 && (await inboxCount()) === before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await w.drainDue();
    }
    const got = await inboxSince(before);
    assert.equal(got.length, 1, "one delay notice");
    assert.match(got[0]!, /Subject: Delayed Mail \(still being retried\)/);
    assert.match(got[0]!, /Final-Recipient: rfc822; slow@delay\.test\r\nAction: delayed\r\nStatus: 4\.3\.0/);
    assert.match(got[0]!, /Will-Retry-Until: /);
    assert.doesNotMatch(got[0]!, /failonly@delay\.test\r\nAction/);
    assert.deepEqual((await runtime.store.outbound.get(id))!.delayNotified, ["slow@delay.test"]);
    // Further attempts give no second notice; expiry then bounces both (both want FAILURE by default or explicitly).
    await runtime.store.pool.query(
      "UPDATE outbound_queue SET next_attempt_at = now(), expires_at = now() + interval '1 second' WHERE id = $1",
      [id],
    );
    await w.drainDue();
    const after = await inboxSince(before);
    assert.equal(after.length, 2, "the delay notice and one expiry DSN, no second delay notice");
    assert.match(after[1]!, /Action: failed\r\nStatus: 4\.4\.7/);
    assert.match(after[1]!, /slow@delay\.test/);
    assert.match(after[1]!, /failonly@delay\.test/);
    assert.equal(await runtime.store.outbound.get(id), undefined);
  });
});
