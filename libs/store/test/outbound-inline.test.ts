/**
 * Queue rows that carry their message (migration 101) on real PostgreSQL and
 * on the embedded PGlite: exactly one of blob and content per row, the
 * content back from claim (one copy per domain row, from enqueue and from
 * the group-commit enqueueMany), left out of listings, and a completed
 * row without a blob releasing nothing to the blob reclaimer while a blob
 * row still releases its key.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "@aerogram/embedded-pg";
import { createTestDatabase, type TestDatabase, tempDir } from "@aerogram/testkit";
import { type OutboundEnqueue, Store } from "../src/index.ts";

function inlineContract(name: string, open: () => Promise<{ store: Store; cleanup(): Promise<void> }>) {
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

    const message = (i: number, o: Partial<OutboundEnqueue> = {}): OutboundEnqueue => {
      const content = Buffer.from(`Subject: ${i}\r\n\r\nbody ${i} \u00e9\r\n`, "utf8");
      return {
        blobKey: null,
        content,
        size: content.length,
        sender: "a@here.test",
        senderAccountId: null,
        messageId: `<${i}@here.test>`,
        byDomain: new Map([
          [`one-${i}.test`, [`x@one-${i}.test`]],
          [`two-${i}.test`, [`y@two-${i}.test`]],
        ]),
        expiresAt: new Date(Date.now() + 86_400_000),
        ...o,
      };
    };
    const released = async () =>
      (await store.pool.query<{ blob_key: string }>("SELECT blob_key FROM blob_reclaim_queue")).rows.map(
        (r) => r.blob_key,
      );

    test("content rows: claimed with their bytes, listed without them, released without a blob", async () => {
      await store.outbound.enqueue(message(1));
      await store.outbound.enqueueMany([message(2), message(3, { blobKey: "b".repeat(64), content: null })]);
      const listed = await store.outbound.list();
      assert.equal(listed.length, 6, "one row per domain");
      assert.deepEqual(listed.map((e) => e.inline).sort(), [false, false, true, true, true, true]);
      assert.ok(
        listed.every((e) => e.content === null),
        "listings leave the copy out",
      );

      const claimed = await store.outbound.claim({
        owner: "w",
        leaseMs: 60_000,
        limit: 10,
        perDomainLimit: 10,
      });
      assert.equal(claimed.length, 6);
      for (const e of claimed) {
        const i = Number(e.messageId!.slice(1, 2));
        if (i === 3) {
          assert.equal(e.blobKey, "b".repeat(64));
          assert.equal(e.content, null);
          assert.equal(e.inline, false);
        } else {
          assert.equal(e.blobKey, null);
          assert.equal(e.inline, true);
          assert.deepEqual(e.content, message(i).content, "the bytes as queued (8-bit intact)");
        }
      }
      const one = claimed.find((e) => e.messageId === "<1@here.test>")!;
      assert.deepEqual((await store.outbound.get(one.id))?.content, message(1).content);

      const before = await released();
      const removed = await store.outbound.completeMany(
        claimed.map((e) => e.id),
        "w",
      );
      assert.equal(removed.size, 6);
      const after = (await released()).filter((k) => !before.includes(k));
      assert.deepEqual(after, ["b".repeat(64)], "only the blob row's key goes to the reclaimer");
    });

    test("a row has exactly one of blob and content", async () => {
      await assert.rejects(
        store.outbound.enqueue(message(4, { content: null })),
        /outbound_queue_content_or_blob/,
      );
      await assert.rejects(
        store.outbound.enqueue(message(5, { blobKey: "c".repeat(64) })),
        /outbound_queue_content_or_blob/,
      );
    });
  });
}

describe("real PostgreSQL", () => {
  let db: TestDatabase | undefined;
  inlineContract("inline queue rows on PostgreSQL", async () => {
    db = await createTestDatabase();
    return { store: await Store.open({ url: db.url, poolMax: 2 }), cleanup: () => db!.drop() };
  });
});

describe("embedded PGlite", () => {
  let embedded: EmbeddedPostgres | undefined;
  inlineContract("inline queue rows on embedded PGlite", async () => {
    const dir = await tempDir("aerogram-pglite-");
    embedded = await startEmbeddedPostgres({ dir: `${dir.path}/pg`, port: 0 });
    return {
      store: await Store.open({ url: embedded.url, poolMax: 2 }),
      cleanup: async () => {
        await embedded?.stop();
        await dir.remove();
      },
    };
  });
});
