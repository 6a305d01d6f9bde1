/**
 * The blob garbage collector against real Postgres and a filesystem blob
 * store: it deletes only blobs that no row references and that are older than
 * the grace period, and checks the reference again right before deleting.
 */
import assert from "node:assert/strict";
import { utimes } from "node:fs/promises";
import { test } from "node:test";
import { FsBlobStore } from "@aerogram/blobstore";
import { createEventBus } from "@aerogram/events";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, tempDir } from "@aerogram/testkit";
import { collectOrphanBlobs, Delivery } from "../src/index.ts";

const message = (n: string) =>
  Buffer.from(
    `From: a@remote.test\r\nTo: x@example.com\r\nSubject: ${n}\r\nMessage-ID: <${n}@remote.test>\r\n\r\n${n}\r\n`,
  );

test("collectOrphanBlobs deletes old unreferenced blobs only", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-gc-");
  const store = await Store.open({ url: db.url, poolMax: 2 });
  const blobs = new FsBlobStore({ dir: dir.path });
  const events = await createEventBus({ kind: "memory", subjectPrefix: "t" });
  t.after(async () => {
    await events.close();
    await blobs.close();
    await store.close();
    await db.drop();
    await dir.remove();
  });
  const x = await store.accounts.create({ address: "x@example.com", password: "pw" });
  const inbox = (await store.mailboxes.byName(x.id, "INBOX"))!.id;
  const delivery = new Delivery({ store, blobs, events });

  const kept = await delivery.deliver(message("kept"), [{ mailboxId: inbox }]);
  const oldOrphan = await delivery.storeBlob(message("old-orphan"));
  const youngOrphan = await delivery.storeBlob(message("young-orphan"));
  // Rows committed after the batch query but before the delete (the late commit of an in-flight
  // delivery) must win: simulate by committing a row for "late" from inside lastModified.
  const late = await delivery.storeBlob(message("late"));
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  for (const k of [kept.key, oldOrphan.key, late.key])
    await utimes(blobs.pathOf(k), twoHoursAgo, twoHoursAgo);

  const dry = await collectOrphanBlobs({ store, blobs, olderThanMs: 3600_000, dryRun: true });
  assert.deepEqual(dry.deleted.sort(), [oldOrphan.key, late.key].sort());
  assert.ok(await blobs.stat(oldOrphan.key), "dry run deletes nothing");

  let committedLate = false;
  const result = await collectOrphanBlobs({
    store,
    blobs,
    olderThanMs: 3600_000,
    batchSize: 2,
    lastModified: async (key) => {
      if (key === late.key && !committedLate) {
        committedLate = true;
        await delivery.commit(late, [{ mailboxId: inbox }]);
      }
      return (await blobs.stat(key)) ? twoHoursAgoOrNow(key) : undefined;
    },
  });
  function twoHoursAgoOrNow(key: string): Date {
    return key === youngOrphan.key ? new Date() : twoHoursAgo;
  }
  assert.deepEqual(result.deleted, [oldOrphan.key]);
  assert.equal(result.scanned, 4);
  assert.equal(result.referenced, 2, "kept and late (committed during the sweep)");
  assert.equal(result.kept, 1, "the young orphan is within the grace period");
  assert.equal(await blobs.stat(oldOrphan.key), undefined);
  for (const k of [kept.key, youngOrphan.key, late.key]) assert.ok(await blobs.stat(k), k);

  // A second pass with no grace removes the young orphan too, and nothing referenced.
  const second = await collectOrphanBlobs({ store, blobs, olderThanMs: 0 });
  assert.deepEqual(second.deleted, [youngOrphan.key]);
  assert.equal(second.scanned, 3);
});

test("collectOrphanBlobs needs an age source for stores without files", async () => {
  const blobs = { list: async function* () {} } as unknown as FsBlobStore;
  await assert.rejects(
    collectOrphanBlobs({ store: { messages: {} as Store["messages"] }, blobs, olderThanMs: 1 }),
    /needs a lastModified/,
  );
});
