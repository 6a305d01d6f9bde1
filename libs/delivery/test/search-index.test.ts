/**
 * The search rows against real Postgres and filesystem blobs: delivery writes
 * none (its ack path is blob + commit), the background indexer writes them in
 * batches (decoded, bounded text; THREADIDs across a batch), skips a message
 * whose blob is gone, resumes, and two indexers sharing a limiter never index
 * the same message twice.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { createEventBus } from "@aerogram/events";
import { MemoryLimiter } from "@aerogram/limits";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer } from "@aerogram/testkit";
import { Delivery, SearchIndexer, SearchIndexWorker } from "../src/index.ts";

function message(i: number, body: string, extra = ""): Buffer {
  return Buffer.from(
    `From: Sender ${i} <s${i}@remote.test>\r\nTo: x@example.com\r\nSubject: Re: item ${i}\r\n` +
      `Message-ID: <i${i}@remote.test>\r\n${extra}MIME-Version: 1.0\r\n` +
      "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
      body,
  );
}

test("the background indexer: no row at delivery, batches after, THREADIDs, skips, resumes", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), "search-index-"));
  const store = await Store.open({ url: db.url, poolMax: 4 });
  const blobs = createBlobStore({ kind: "fs", dir });
  const events = await createEventBus({ kind: "memory", subjectPrefix: "t" });
  t.after(async () => {
    await events.close();
    await blobs.close();
    await store.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });
  const x = await store.accounts.create({ address: "x@example.com", password: "pw" });
  const inbox = (await store.mailboxes.byName(x.id, "INBOX"))!.id;
  const delivery = new Delivery({ store, blobs, events });
  const indexer = new SearchIndexer({ store, blobs }, { maxBodyChars: 64 * 1024 });

  // buffered, streamed, and a big one past the text bound; 4 is a reply that came before its parent 5
  await delivery.deliver(message(1, "Caf=E9 cr=E8me, HELLO world\r\n"), [{ mailboxId: inbox }]);
  await delivery.deliver(Readable.from([message(2, "streamed body\r\n")]), [{ mailboxId: inbox }]);
  const big = `${"filler line of text\r\n".repeat(160_000)}needle at the end\r\n`; // ~3.3 MB
  await delivery.deliver(Readable.from([message(3, big, "References: <i1@remote.test>\r\n")]), [
    { mailboxId: inbox },
  ]);
  await delivery.deliver(message(4, "early reply\r\n", "References: <i5@remote.test>\r\n"), [
    { mailboxId: inbox },
  ]);
  await delivery.deliver(message(5, "late parent\r\n"), [{ mailboxId: inbox }]);

  // the ack path wrote no row: every message is pending, and SEARCH would scan them
  const count = async () =>
    Number((await store.pool.query("SELECT count(*) FROM message_search")).rows[0].count);
  assert.equal(await count(), 0);
  assert.deepEqual(
    (await store.search.unindexed(inbox)).map((m) => [m.uid, m.hasRow]),
    [
      [1, false],
      [2, false],
      [3, false],
      [4, false],
      [5, false],
    ],
  );
  const before = await store.search.backlog();
  assert.equal(before.messages, 5);
  assert.ok(before.oldestSeconds >= 0);

  const indexedBatches: number[] = [];
  const worker = new SearchIndexWorker(
    { store, indexer },
    { batch: 10, pauseMs: 0, pollMs: 10, shards: 3, onIndexed: (n) => indexedBatches.push(n) },
  );
  assert.equal(await worker.runOnce(), 5);
  assert.deepEqual(indexedBatches, [5], "one batch: all five in one pass of its shard");
  assert.deepEqual(await store.search.backlog(), { messages: 0, oldestSeconds: 0 });

  const rows = await store.pool.query<{
    uid: number;
    body: string;
    header: string;
    complete: boolean;
    base_subject: string;
    from_mailbox: string;
    display_from: string;
    refs: string[];
  }>("SELECT * FROM message_search WHERE mailbox_id = $1 ORDER BY uid", [inbox]);
  assert.equal(rows.rows.length, 5);
  const [r1, r2, r3] = rows.rows;
  assert.match(r1!.body, /café crème, hello world/, "decoded, charset-converted, lower-cased");
  assert.match(r1!.header, /subject: re: item 1/);
  assert.equal(r1!.complete, true);
  assert.equal(r1!.base_subject, "ITEM 1");
  assert.equal(r1!.from_mailbox, "S1");
  assert.equal(r1!.display_from, "SENDER 1");
  assert.match(r2!.body, /streamed body/);
  // the big one: bounded at 64 Ki characters, so marked incomplete (SEARCH scans it)
  assert.equal(r3!.complete, false);
  assert.ok(r3!.body.length <= 64 * 1024);
  assert.deepEqual(r3!.refs, ["<i1@remote.test>"]);
  assert.deepEqual(
    (await store.search.unindexed(inbox)).map((m) => [m.uid, m.hasRow]),
    [[3, true]],
  );

  // THREADID in one batch: 3 joined its parent's (1) thread, 5 its earlier reply's (4); 2 its own
  const threads = await store.pool.query<{ uid: number; thread_id: number; email_id: number }>(
    "SELECT uid, thread_id, email_id FROM messages WHERE mailbox_id = $1 ORDER BY uid",
    [inbox],
  );
  const [m1, m2, m3, m4, m5] = threads.rows;
  assert.equal(m3!.thread_id, m1!.thread_id);
  assert.notEqual(m2!.thread_id, m1!.thread_id);
  assert.equal(m1!.thread_id, m1!.email_id);
  assert.equal(m5!.thread_id, m4!.thread_id);
  assert.equal(m4!.thread_id, m4!.email_id);

  // a message whose blob is gone is skipped (and reported); the others of its batch are written
  for (let i = 6; i <= 9; i++) await delivery.deliver(message(i, `body ${i}\r\n`), [{ mailboxId: inbox }]);
  const gone = await store.pool.query<{ blob_key: string }>(
    "SELECT blob_key FROM messages WHERE mailbox_id = $1 AND uid = 7",
    [inbox],
  );
  await blobs.delete(gone.rows[0]!.blob_key);
  const errors: Error[] = [];
  const second = new SearchIndexWorker(
    { store, indexer },
    { batch: 2, pauseMs: 0, pollMs: 10, shards: 1, onError: (e) => errors.push(e) },
  );
  assert.equal(await second.runOnce(), 3, "6, 8, 9 in batches of 2; 7 skipped");
  assert.equal(errors.length, 1);
  assert.deepEqual(
    (await store.search.unindexed(inbox)).map((m) => m.uid),
    [3, 7],
  );
  assert.equal(await second.runOnce(), 0, "the failed one is left alone for a while");

  // two indexers on one limiter (two replicas): each message indexed once, the backlog drained
  const other = await store.accounts.create({ address: "y@example.com", password: "pw" });
  const otherInbox = (await store.mailboxes.byName(other.id, "INBOX"))!.id;
  for (let i = 10; i < 70; i++)
    await delivery.deliver(message(i, `spread ${i}\r\n`), [{ mailboxId: i % 2 ? inbox : otherInbox }]);
  const limiter = new MemoryLimiter();
  t.after(() => limiter.close());
  const replica = () =>
    new SearchIndexWorker(
      { store, indexer },
      { batch: 7, pauseMs: 1, pollMs: 10, shards: 4, acquireLease: (key) => limiter.acquire(key, 60_000) },
    );
  const [a, b] = await Promise.all([replica().runOnce(), replica().runOnce()]);
  assert.equal(a + b, 60, `each message written once (${a} + ${b})`);
  assert.equal((await store.search.backlog()).messages, 1, "only the unreadable one is left");

  // the loop: a new delivery is indexed within a poll, no runOnce needed
  const loop = replica();
  loop.start();
  t.after(() => loop.stop());
  await delivery.deliver(message(70, "picked up by the loop\r\n"), [{ mailboxId: inbox }]);
  const deadline = Date.now() + 10_000;
  while ((await store.search.backlog()).messages > 1 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal((await store.search.backlog()).messages, 1);
  await loop.stop();
});
