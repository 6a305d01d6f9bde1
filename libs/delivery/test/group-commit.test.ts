/**
 * Group commit against real Postgres: concurrent commitOnce calls share
 * transactions (fewer groups than deliveries) and each gets its own UIDs,
 * contiguous per mailbox and never shared; a dedupe key repeated inside one
 * group and one already committed both come back as duplicates without rows;
 * a delivery to a mailbox deleted meanwhile fails alone while the rest of its
 * group commits.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { createEventBus } from "@aerogram/events";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, tempDir } from "@aerogram/testkit";
import { Delivery } from "../src/index.ts";

const message = (n: number) => Buffer.from(`From: a@remote.test\r\nSubject: m${n}\r\n\r\nbody ${n}\r\n`);

test("concurrent deliveries share transactions, keep distinct UIDs, dedupe inside and across groups", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-group-commit-");
  const store = await Store.open({ url: db.url, poolMax: 4 });
  const blobs = createBlobStore({ kind: "fs", dir: dir.path });
  const events = await createEventBus({ kind: "memory", subjectPrefix: "t" });
  t.after(async () => {
    await store.close();
    await events.close();
    await dir.remove();
    await db.drop();
  });
  const delivery = new Delivery({ store, blobs, events }, { groupCommit: { maxGroup: 16, maxInFlight: 1 } });
  const x = await store.accounts.create({ address: "x@example.com", password: "pw" });
  const y = await store.accounts.create({ address: "y@example.com", password: "pw" });
  const boxX = (await store.mailboxes.byName(x.id, "INBOX"))!.id;
  const boxY = (await store.mailboxes.byName(y.id, "INBOX"))!.id;

  const stored = await Promise.all(Array.from({ length: 40 }, (_, n) => delivery.storeBlob(message(n))));
  const results = await Promise.all(
    stored.map((blob, n) =>
      delivery.commitOnce(
        blob,
        n % 3 === 0 ? [{ mailboxId: boxX }, { mailboxId: boxY }] : [{ mailboxId: boxX }],
        {
          // Deliveries 10 and 11 are the same delivery: the second is a duplicate.
          key: `k${n === 11 ? 10 : n}`,
          windowSeconds: 3600,
        },
      ),
    ),
  );
  const stats = delivery.groupCommitStats!;
  assert.equal(stats.deliveries, 40);
  assert.ok(stats.groups < 40, `40 deliveries in ${stats.groups} transactions`);
  assert.deepEqual(
    results.map((r, n) => (r.duplicate ? n : -1)).filter((n) => n >= 0),
    [11],
  );
  const uidsX = results
    .flatMap((r) => (r.duplicate ? [] : r.appended.filter((a) => a.mailboxId === boxX)))
    .flatMap((a) => a.uids);
  assert.equal(uidsX.length, 39);
  assert.deepEqual(
    [...uidsX].sort((a, b) => a - b),
    Array.from({ length: 39 }, (_, i) => i + 1),
  );
  const inboxX = (await store.mailboxes.byName(x.id, "INBOX"))!;
  assert.equal(inboxX.messageCount, 39);
  assert.equal((await store.mailboxes.byName(y.id, "INBOX"))!.messageCount, 14);

  // A key committed earlier is a duplicate in a later group too, and adds nothing.
  const again = await Promise.all([
    delivery.commitOnce(stored[5]!, [{ mailboxId: boxX }], { key: "k5", windowSeconds: 3600 }),
    delivery.commitOnce(stored[6]!, [{ mailboxId: boxX }], { key: "new-6", windowSeconds: 3600 }),
  ]);
  assert.deepEqual(
    again.map((r) => r.duplicate),
    [true, false],
  );
  assert.equal((await store.mailboxes.byName(x.id, "INBOX"))!.messageCount, 40);
});

test("a delivery that cannot commit fails alone; its group's others are stored", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-group-commit-");
  const store = await Store.open({ url: db.url, poolMax: 4 });
  const blobs = createBlobStore({ kind: "fs", dir: dir.path });
  const events = await createEventBus({ kind: "memory", subjectPrefix: "t" });
  t.after(async () => {
    await store.close();
    await events.close();
    await dir.remove();
    await db.drop();
  });
  const delivery = new Delivery({ store, blobs, events }, { groupCommit: { maxGroup: 16, maxInFlight: 1 } });
  const x = await store.accounts.create({ address: "x@example.com", password: "pw" });
  const boxX = (await store.mailboxes.byName(x.id, "INBOX"))!.id;
  const missing = 2_000_000_000;
  const blob = await delivery.storeBlob(message(1));
  // The first goes alone (nothing in flight); the next four queue behind it and form one group.
  const settled = await Promise.allSettled(
    [boxX, boxX, missing, boxX, boxX].map((mailboxId, n) =>
      delivery.commitOnce(blob, [{ mailboxId }], { key: `f${n}`, windowSeconds: 3600 }),
    ),
  );
  assert.deepEqual(
    settled.map((s) => s.status),
    ["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"],
  );
  assert.equal((await store.mailboxes.byName(x.id, "INBOX"))!.messageCount, 4);
});
