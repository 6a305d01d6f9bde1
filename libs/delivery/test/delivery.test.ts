/**
 * Delivery against real Postgres and s3rver: a streamed message goes into two
 * mailboxes in one transaction with its MIME index, a section resolved from the
 * stored part offsets reads the right bytes back with a ranged get, and
 * commitOnce delivers a dedupe key once.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { createEventBus, type MailboxEvent } from "@aerogram/events";
import { resolveSection } from "@aerogram/mime";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, startS3 } from "@aerogram/testkit";
import { Delivery, type StoredMime } from "../src/index.ts";

const MESSAGE = [
  "From: a@remote.test",
  "To: x@example.com, y@example.com",
  "Subject: parts",
  "Message-ID: <parts@remote.test>",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="b1"',
  "",
  "preamble",
  "--b1",
  "Content-Type: text/plain",
  "",
  "first part text",
  "--b1",
  "Content-Type: application/octet-stream",
  "Content-Transfer-Encoding: base64",
  "",
  "AAECAwQF",
  "--b1--",
  "",
].join("\r\n");

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test("streamed delivery to two mailboxes with index columns, ranged section read, exactly-once commit", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  const s3 = await startS3();
  const store = await Store.open({ url: db.url, poolMax: 4 });
  const blobs = createBlobStore({
    kind: "s3",
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
  const events = await createEventBus({ kind: "memory", subjectPrefix: "t" });
  t.after(async () => {
    await events.close();
    await blobs.close();
    await store.close();
    await s3.stop();
    await db.drop();
  });
  const x = await store.accounts.create({ address: "x@example.com", password: "pw" });
  const y = await store.accounts.create({ address: "y@example.com", password: "pw" });
  const boxX = (await store.mailboxes.byName(x.id, "INBOX"))!.id;
  const boxY = (await store.mailboxes.byName(y.id, "INBOX"))!.id;
  const seen: MailboxEvent[] = [];
  events.subscribe(x.id, (e) => seen.push(e));
  events.subscribe(y.id, (e) => seen.push(e));

  const delivery = new Delivery({ store, blobs, events });
  const bytes = Buffer.from(MESSAGE);
  // Tiny chunks, so the stream really streams (and the first chunk isn't the whole message).
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 17) chunks.push(bytes.subarray(i, i + 17));
  const result = await delivery.deliver(Readable.from(chunks), [
    { mailboxId: boxX },
    { mailboxId: boxY, flags: ["\\Seen"] },
  ]);
  assert.equal(result.size, bytes.length);
  assert.deepEqual(
    result.appended.map((a) => [a.mailboxId, a.uids]),
    [
      [boxX, [1]],
      [boxY, [1]],
    ],
  );
  assert.ok(
    (await collect(await blobs.get(result.key))).equals(bytes),
    "the blob is the message, byte for byte",
  );

  const { rows } = await store.pool.query(
    `SELECT mailbox_id, blob_key, size, envelope, body_structure, subject, message_id, mime, flags
       FROM messages ORDER BY mailbox_id`,
  );
  assert.equal(rows.length, 2);
  for (const r of rows) {
    assert.equal(r.blob_key, result.key, "both rows share one blob");
    assert.equal(r.size, bytes.length);
    assert.equal(r.subject, "parts");
    assert.equal(r.message_id, "<parts@remote.test>");
    assert.match(r.envelope, /"parts"/);
    assert.match(r.body_structure, /"mixed"/i);
  }
  assert.equal(rows.find((r) => r.mailbox_id === boxY).flags & 1, 1);

  const mime = rows[0].mime as StoredMime;
  for (const [section, expected] of [
    ["1", "first part text"],
    ["2", "AAECAwQF"],
    ["2.MIME", "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"],
  ] as const) {
    const resolved = resolveSection({ parts: mime.parts, size: mime.size }, section);
    assert.ok(resolved, section);
    const got = await collect(await blobs.getRange(result.key, resolved.range.offset, resolved.range.length));
    assert.equal(got.toString(), expected, `BODY[${section}] read by offset from the blob`);
  }

  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    seen.map((e) => [e.account, e.kind, e.uids]).sort(),
    [
      [x.id, "exists", [1]],
      [y.id, "exists", [1]],
    ].sort(),
  );

  // commitOnce: the second commit with the same key adds nothing and announces nothing.
  const again = await delivery.storeBlob(Readable.from([bytes]));
  assert.equal(again.key, result.key, "content addressed: same bytes, same blob");
  const key = { key: "retry-1", windowSeconds: 60 };
  const first = await delivery.commitOnce(again, [{ mailboxId: boxX }, { mailboxId: boxY }], key);
  assert.equal(first.duplicate, false);
  await new Promise((r) => setTimeout(r, 50));
  const eventsBefore = seen.length;
  const second = await delivery.commitOnce(again, [{ mailboxId: boxX }, { mailboxId: boxY }], key);
  assert.equal(second.duplicate, true);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, eventsBefore);
  assert.equal((await store.mailboxes.byName(x.id, "INBOX"))!.messageCount, 2);
});

test("a source that fails mid-stream stores nothing and rejects", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const s3 = await startS3();
  const blobs = createBlobStore({
    kind: "s3",
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  });
  t.after(async () => {
    await blobs.close();
    await s3.stop();
  });
  const delivery = new Delivery({ store: undefined as never, blobs, events: undefined as never });
  async function* broken() {
    yield Buffer.from("Subject: x\r\n\r\n");
    throw new Error("client went away");
  }
  await assert.rejects(delivery.storeBlob(broken()), /client went away/);
  await new Promise((r) => setTimeout(r, 200));
  const partialKey = createHash("sha256").update("Subject: x\r\n\r\n").digest("hex");
  await assert.rejects(
    blobs.get(partialKey).then(collect),
    "the partial message was not stored under its content address",
  );
});
