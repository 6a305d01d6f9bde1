/**
 * One durable flush per small remote-only message (issue 19): a message for
 * remote recipients only whose copies (size × recipient domains) fit
 * SUBMISSION_INLINE_QUEUE_MAX_BYTES is kept in its queue rows — no blob is
 * written, and the rows are committed before the 250 — while a message with
 * a local recipient, or over the threshold, keeps the blob. Concurrent
 * sessions (the group commit's one INSERT) and the worker's delivery of
 * what the rows hold, byte for byte, over a real socket.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseRoutes } from "@aerogram/outbound";
import { requireServer, type SmtpSink, startSmtpSink } from "@aerogram/testkit";
import nodemailer from "nodemailer";
import { type Harness, inbox, startHarness } from "./support.ts";

const PASSWORD = "inline password 1";

describe("small remote-only messages kept in the queue rows", () => {
  let h: Harness;
  let sink: SmtpSink;

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres")) || !(await requireServer(t as never, "redis"))) return;
    h = await startHarness();
    sink = await startSmtpSink();
    await h.runtime.store.accounts.create({ address: "ida@local.test", password: PASSWORD });
    await h.runtime.store.accounts.create({ address: "lou@local.test", password: PASSWORD });
  });
  after(async () => {
    await sink?.close();
    await h?.close();
  });

  const send = (port: number, mail: nodemailer.SendMailOptions) => {
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      tls: { rejectUnauthorized: false },
      auth: { user: "ida@local.test", pass: PASSWORD },
    });
    return transport.sendMail({ from: "ida@local.test", ...mail }).finally(() => transport.close());
  };
  const blobCount = async () => {
    let n = 0;
    for await (const _ of h.runtime.blobs.list()) n++;
    return n;
  };
  /** The queue rows of the message whose Message-ID contains `id`. */
  const rows = async (id: string) =>
    (
      await h.runtime.store.pool.query<{ blob_key: string | null; content: Buffer | null; domain: string }>(
        "SELECT blob_key, content, domain FROM outbound_queue WHERE message_id LIKE $1 ORDER BY domain",
        [`%${id}%`],
      )
    ).rows;

  test("remote only and small: no blob, each domain's row holds the message, delivered byte for byte", async () => {
    const blobs = await blobCount();
    const info = await send(h.port, {
      to: ["a@far.test", "b@other.test"],
      subject: "inline one",
      text: "kept in the row \u00e9",
      messageId: "<inline-one@local.test>",
    });
    assert.match(info.response, /^250 2\.0\.0/);
    const queued = await rows("inline-one");
    assert.deepEqual(
      queued.map((r) => r.domain),
      ["far.test", "other.test"],
    );
    assert.ok(queued.every((r) => r.blob_key === null && r.content !== null));
    assert.deepEqual(queued[0]!.content, queued[1]!.content);
    assert.equal(await blobCount(), blobs, "nothing written to the blob store");
    const text = queued[0]!.content!.toString("utf8");
    assert.match(text, /^Received: from /, "our trace header on top");
    assert.doesNotMatch(text, /(^|\n)Bcc:/i);

    await h.worker({ routes: parseRoutes(`*=127.0.0.1:${sink.port}`) }).drainDue();
    const got = sink.messages.filter((m) => m.data.toString().includes("inline-one@local.test"));
    assert.equal(got.length, 2);
    for (const m of got) assert.deepEqual(m.data, queued[0]!.content, "what the row held, byte for byte");
    assert.equal((await rows("inline-one")).length, 0, "rows completed");
  });

  test("a local recipient, or copies over the threshold, keep the blob", async () => {
    await send(h.port, {
      to: ["lou@local.test", "c@far.test"],
      subject: "with local",
      text: "also for a mailbox",
      messageId: "<with-local@local.test>",
    });
    const [withLocal] = await rows("with-local");
    assert.ok(withLocal?.blob_key && withLocal.content === null);
    assert.equal((await inbox(h.runtime, "lou@local.test")).length, 1);

    // 0: never inline.
    const never = await h.start({ inlineQueueMaxBytes: 0 });
    await send(never.port, {
      to: "d@far.test",
      subject: "never",
      text: "x",
      messageId: "<never@local.test>",
    });
    const [neverRow] = await rows("never@");
    assert.ok(neverRow?.blob_key && neverRow.content === null);

    // The threshold bounds size × domains: one domain fits, three do not.
    const small = await h.start({ inlineQueueMaxBytes: 1500 });
    const body = "y".repeat(600);
    await send(small.port, { to: "e@far.test", subject: "fits", text: body, messageId: "<fits@local.test>" });
    await send(small.port, {
      to: ["f@far.test", "g@other.test", "h@third.test"],
      subject: "three copies",
      text: body,
      messageId: "<three@local.test>",
    });
    const [fits] = await rows("fits@");
    assert.ok(fits && fits.blob_key === null && fits.content!.length <= 1500);
    const three = await rows("three@");
    assert.equal(three.length, 3);
    assert.ok(three.every((r) => r.blob_key !== null && r.content === null));
    await h.worker({ routes: parseRoutes(`*=127.0.0.1:${sink.port}`) }).drainDue();
  });

  test("concurrent sessions: their rows committed together, each with its own bytes", async () => {
    const n = 8;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        send(h.port, {
          to: `p${i}@far.test`,
          subject: `par ${i}`,
          text: `body ${i}`,
          messageId: `<par-${i}@local.test>`,
        }),
      ),
    );
    for (let i = 0; i < n; i++) {
      const [row] = await rows(`par-${i}@`);
      assert.ok(row?.content, `message ${i} inline`);
      assert.match(row.content.toString(), new RegExp(`Subject: par ${i}\\r\\n[^]*body ${i}`));
    }
    await h.worker({ routes: parseRoutes(`*=127.0.0.1:${sink.port}`) }).drainDue();
    for (let i = 0; i < n; i++)
      assert.equal(
        sink.messages.filter((m) => m.data.toString().includes(`<par-${i}@local.test>`)).length,
        1,
      );
  });
});
