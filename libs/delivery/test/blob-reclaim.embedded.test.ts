/**
 * The embedded default (PGlite, filesystem blobs) frees blobs the same way:
 * migration 030's triggers release on expunge, the reclaimer deletes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestBackend } from "@aerogram/testkit";
import { BlobReclaimer, Delivery } from "../src/index.ts";
import { settle } from "./settle.ts";

test("embedded: an expunged message's blob is freed after the grace period", async (t) => {
  const backend = await startTestBackend({ database: "embedded", blobs: "fs" });
  const rt = await backend.runtime("lifecycle-test");
  t.after(async () => {
    await rt.close();
    await backend.stop();
  });
  const a = await rt.store.accounts.create({ address: "x@example.com", password: "pw" });
  const inbox = (await rt.store.mailboxes.byName(a.id, "INBOX"))!.id;
  const delivery = new Delivery(rt);
  const d = await delivery.deliver(Buffer.from("Subject: e\r\n\r\nembedded\r\n"), [{ mailboxId: inbox }]);
  await rt.store.messages.expunge(inbox, "all");
  const reclaimer = (graceMs: number) =>
    new BlobReclaimer(
      { store: rt.store, blobs: rt.blobs },
      { graceMs, tombstoneMs: 3600_000, intervalMs: 60_000, batch: 10 },
    );
  assert.equal((await reclaimer(3600_000).drain()).deleted, 0);
  assert.ok(await rt.blobs.stat(d.key));
  assert.equal((await settle(reclaimer(0), rt.store)).deleted, 1);
  assert.equal(await rt.blobs.stat(d.key), undefined);
  assert.deepEqual(await rt.store.blobReclaim.stats(), { pendingObjects: 0, pendingBytes: 0, tombstones: 1 });
});
