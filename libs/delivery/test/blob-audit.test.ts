/**
 * The full-listing audit (mailctl gc) against real Postgres and filesystem
 * blobs: blobs no row references and no queue knows (a process killed
 * between storing and committing) are handed to the reclaimer's queue, never
 * deleted by the audit itself; referenced and in-flight content survives; an
 * interrupted audit resumes after the last key it saved.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FsBlobStore } from "@aerogram/blobstore";
import { createEventBus } from "@aerogram/events";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, tempDir } from "@aerogram/testkit";
import { auditBlobs, BlobReclaimer, Delivery } from "../src/index.ts";
import { settle } from "./settle.ts";

test("audit queues unreferenced blobs for the reclaimer, resumes, and keeps referenced ones", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-audit-");
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
  const kept = [];
  for (let i = 0; i < 4; i++)
    kept.push(
      (await delivery.deliver(Buffer.from(`Subject: k${i}\r\n\r\nkept\r\n`), [{ mailboxId: inbox }])).key,
    );
  // Stored and never committed nor released: what a killed process leaves.
  const orphans = [];
  for (let i = 0; i < 5; i++)
    orphans.push((await delivery.storeBlob(Buffer.from(`Subject: o${i}\r\n\r\norphan\r\n`))).key);

  const dry = await auditBlobs({ store, blobs, dryRun: true });
  assert.deepEqual([dry.scanned, dry.referenced, dry.released], [9, 4, 5]);
  assert.equal((await store.blobReclaim.stats()).pendingObjects, 0, "a dry run queues nothing");

  // Interrupted after the third page of two keys, then resumed from the saved key.
  let pages = 0;
  await assert.rejects(
    auditBlobs({
      store,
      blobs,
      pageSize: 2,
      onProgress: () => {
        if (++pages === 3) throw new Error("killed");
      },
    }),
  );
  const saved = await store.blobReclaim.auditProgress("default");
  assert.equal(saved?.scanned, 6);
  const resumed = await auditBlobs({ store, blobs, pageSize: 2 });
  assert.equal(resumed.resumedAfter, saved?.afterKey);
  assert.equal(resumed.scanned, 9, "3 more keys after the 6 of the interrupted run");
  assert.equal(
    await store.blobReclaim.auditProgress("default"),
    undefined,
    "a complete pass forgets its position",
  );
  assert.equal((await store.blobReclaim.stats()).pendingObjects, 5);

  // The audit deleted nothing; the reclaimer does, after its grace period.
  for (const k of orphans) assert.ok(await blobs.stat(k));
  const reclaimer = (graceMs: number) =>
    new BlobReclaimer({ store, blobs }, { graceMs, tombstoneMs: 3600_000, intervalMs: 60_000, batch: 100 });
  assert.equal((await reclaimer(3600_000).drain()).deleted, 0);
  // One orphan gets a row meanwhile (an in-flight delivery committing late): it survives.
  await delivery.commit(
    {
      key: orphans[0]!,
      size: (await blobs.stat(orphans[0]!))!.size,
      index: (await delivery.storeBlob(Buffer.from("Subject: o0\r\n\r\norphan\r\n"))).index,
    },
    [{ mailboxId: inbox }],
  );
  const r = await settle(reclaimer(0), store);
  assert.equal(r.deleted, 4);
  assert.ok(await blobs.stat(orphans[0]!));
  for (const k of orphans.slice(1)) assert.equal(await blobs.stat(k), undefined);
  for (const k of kept) assert.ok(await blobs.stat(k));
});
