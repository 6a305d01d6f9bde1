/**
 * Group commit in one round trip (messages/append-group.ts) against real
 * PostgreSQL and the embedded PGlite: the outcome appendGroupIn gives (UIDs
 * contiguous per mailbox in item order, one MODSEQ per mailbox, dedupe keys
 * repeated in the group or claimed earlier come back as duplicates without
 * rows), and a group naming a missing mailbox fails whole: no rows, no
 * counters moved, no key claimed, so retrying its deliveries cannot lose one.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "@aerogram/embedded-pg";
import { createTestDatabase, tempDir } from "@aerogram/testkit";
import { type GroupedAppend, Store } from "../src/index.ts";

const BLOB = "b".repeat(64);
const WINDOW = 3600;

function contract(name: string, open: () => Promise<{ store: Store; cleanup(): Promise<void> }>) {
  describe(name, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(async () => {
      await store?.close();
      await cleanup?.();
    });

    test("one round trip: UIDs per mailbox in order, duplicates inside and across groups add nothing", async () => {
      const x = await store.accounts.create({ address: "gx@example.com", password: "pw" });
      const y = await store.accounts.create({ address: "gy@example.com", password: "pw" });
      const boxX = (await store.mailboxes.byName(x.id, "INBOX"))!.id;
      const boxY = (await store.mailboxes.byName(y.id, "INBOX"))!.id;
      const one = (mailboxId: number, size: number, flags: string[] = []) => ({
        mailboxId,
        messages: [{ blobKey: BLOB, size, flags }],
      });
      const first = await store.messages.appendGroupAtOnce([
        { targets: [one(boxX, 10)], dedupe: { key: "old", windowSeconds: WINDOW } },
      ]);
      assert.equal(first[0]!.duplicate, false);
      const items: GroupedAppend[] = [
        { targets: [one(boxX, 1), one(boxY, 1, ["$Work"])], dedupe: { key: "a", windowSeconds: WINDOW } },
        { targets: [one(boxX, 2)], dedupe: { key: "old", windowSeconds: WINDOW } },
        { targets: [one(boxX, 3)], dedupe: { key: "a", windowSeconds: WINDOW } },
        { targets: [one(boxX, 4)] },
        { targets: [one(boxY, 5)], dedupe: { key: "b", windowSeconds: WINDOW } },
      ];
      const results = await store.messages.appendGroupAtOnce(items);
      assert.deepEqual(
        results.map((r) => r.duplicate),
        [false, true, true, false, false],
      );
      const uids = (i: number, mailboxId: number) => {
        const r = results[i]!;
        assert.ok(!r.duplicate);
        return r.appended.find((a) => a.mailboxId === mailboxId)!.uids;
      };
      assert.deepEqual([uids(0, boxX), uids(3, boxX)], [[2], [3]]);
      assert.deepEqual([uids(0, boxY), uids(4, boxY)], [[1], [2]]);
      const inboxX = (await store.mailboxes.byId(boxX))!;
      assert.equal(inboxX.messageCount, 3);
      assert.equal(inboxX.totalSize, 10 + 1 + 4);
      assert.equal(inboxX.uidNext, 4);
      const inboxY = (await store.mailboxes.byId(boxY))!;
      assert.equal(inboxY.messageCount, 2);
      assert.equal(inboxY.totalSize, 6);
      // One MODSEQ per mailbox for the whole group.
      const rowsX = await store.messages.listUids(boxX);
      assert.equal(rowsX[1]!.modseq, rowsX[2]!.modseq);
      assert.deepEqual(
        (await store.pool.query("SELECT keywords FROM mailboxes WHERE id = $1", [boxY])).rows[0].keywords,
        ["$Work"],
      );
    });

    test("a missing mailbox fails the whole group: no rows, no counters, no claimed key", async () => {
      const x = await store.accounts.create({ address: "gz@example.com", password: "pw" });
      const boxX = (await store.mailboxes.byName(x.id, "INBOX"))!.id;
      const before = (await store.mailboxes.byId(boxX))!;
      await assert.rejects(
        store.messages.appendGroupAtOnce([
          {
            targets: [{ mailboxId: boxX, messages: [{ blobKey: BLOB, size: 1 }] }],
            dedupe: { key: "m1", windowSeconds: WINDOW },
          },
          {
            targets: [{ mailboxId: 2_000_000_000, messages: [{ blobKey: BLOB, size: 1 }] }],
            dedupe: { key: "m2", windowSeconds: WINDOW },
          },
        ]),
      );
      const afterFailure = (await store.mailboxes.byId(boxX))!;
      assert.deepEqual(
        [afterFailure.messageCount, afterFailure.uidNext, afterFailure.highestModseq],
        [before.messageCount, before.uidNext, before.highestModseq],
      );
      const { rows } = await store.pool.query("SELECT key FROM delivery_dedupe WHERE key IN ('m1', 'm2')");
      assert.deepEqual(rows, []);
      // The same delivery again, alone, goes through (its key was not taken by the failed group).
      const again = await store.messages.appendGroupAtOnce([
        {
          targets: [{ mailboxId: boxX, messages: [{ blobKey: BLOB, size: 1 }] }],
          dedupe: { key: "m1", windowSeconds: WINDOW },
        },
      ]);
      assert.equal(again[0]!.duplicate, false);
    });
  });
}

describe("real PostgreSQL", () => {
  contract("group commit on PostgreSQL", async () => {
    const db = await createTestDatabase();
    const store = await Store.open({ url: db.url, poolMax: 2 });
    return { store, cleanup: () => db.drop() };
  });
});

describe("embedded PGlite", () => {
  let embedded: EmbeddedPostgres | undefined;
  contract("group commit on embedded PGlite", async () => {
    const dir = await tempDir("aerogram-pglite-");
    embedded = await startEmbeddedPostgres({ dir: `${dir.path}/pg`, port: 0 });
    const store = await Store.open({ url: embedded.url, poolMax: 2 });
    return {
      store,
      cleanup: async () => {
        await embedded?.stop();
        await dir.remove();
      },
    };
  });
});
