/**
 * The search rows against real Postgres and filesystem blobs: delivery writes
 * them (streamed and buffered, small and past the capture bound), the text is
 * decoded and bounded, and the backfill restores what is missing, resumably,
 * reporting progress.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { createEventBus } from "@aerogram/events";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer } from "@aerogram/testkit";
import { Delivery, SearchBackfill } from "../src/index.ts";

function message(i: number, body: string, extra = ""): Buffer {
  return Buffer.from(
    `From: Sender ${i} <s${i}@remote.test>\r\nTo: x@example.com\r\nSubject: Re: item ${i}\r\n` +
      `Message-ID: <i${i}@remote.test>\r\n${extra}MIME-Version: 1.0\r\n` +
      "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
      body,
  );
}

test("search rows at delivery, bounded text, and a resumable backfill", async (t) => {
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
  const indexErrors: Error[] = [];
  const delivery = new Delivery(
    { store, blobs, events },
    { searchMaxBodyChars: 64 * 1024, onSearchIndexError: (err) => indexErrors.push(err) },
  );

  // buffered, streamed, and streamed past the capture bound (its text read back from the blob)
  await delivery.deliver(message(1, "Caf=E9 cr=E8me, HELLO world\r\n"), [{ mailboxId: inbox }]);
  await delivery.deliver(Readable.from([message(2, "streamed body\r\n")]), [{ mailboxId: inbox }]);
  const big = `${"filler line of text\r\n".repeat(160_000)}needle at the end\r\n`; // ~3.3 MB
  await delivery.deliver(Readable.from([message(3, big, "References: <i1@remote.test>\r\n")]), [
    { mailboxId: inbox },
  ]);

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
  assert.deepEqual(indexErrors, []);
  assert.equal(rows.rows.length, 3);
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
  const unindexed = await store.search.unindexed(inbox);
  assert.deepEqual(
    unindexed.map((m) => [m.uid, m.hasRow]),
    [[3, true]],
  );

  // THREADID: the reply (3) joined its parent's (1) thread; 2 has its own
  const threads = await store.pool.query<{ uid: number; thread_id: number; email_id: number }>(
    "SELECT uid, thread_id, email_id FROM messages WHERE mailbox_id = $1 ORDER BY uid",
    [inbox],
  );
  const [m1, m2, m3] = threads.rows;
  assert.equal(m3!.thread_id, m1!.thread_id);
  assert.notEqual(m2!.thread_id, m1!.thread_id);
  assert.equal(m1!.thread_id, m1!.email_id);

  // the backfill: rows lost (older messages, or a failed write) come back, in batches, with progress
  await store.pool.query("DELETE FROM message_search WHERE mailbox_id = $1", [inbox]);
  for (let i = 4; i <= 8; i++) await delivery.deliver(message(i, `body ${i}\r\n`), [{ mailboxId: inbox }]);
  await store.pool.query("DELETE FROM message_search WHERE mailbox_id = $1 AND uid IN (5, 7)", [inbox]);
  assert.equal(await store.search.countMissing(), 5);
  const progress: [number, number][] = [];
  const backfill = new SearchBackfill(
    { store, indexer: delivery.searchIndexer },
    { batch: 2, pauseMs: 0, onProgress: (left, done) => progress.push([left, done]) },
  );
  assert.equal(await backfill.runOnce(), 5);
  assert.deepEqual(progress, [
    [3, 2],
    [1, 2],
    [0, 1],
    [0, 0],
  ]);
  assert.equal(await store.search.countMissing(), 0);
  assert.equal(await backfill.runOnce(), 0, "nothing left: a second pass writes nothing");
  const again = await store.pool.query<{ body: string }>(
    "SELECT body FROM message_search WHERE mailbox_id = $1 AND uid = 1",
    [inbox],
  );
  assert.match(again.rows[0]!.body, /café crème/);
});
