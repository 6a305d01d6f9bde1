/**
 * The store against real PostgreSQL (its own database per run) and against the
 * embedded PGlite default through the same `pg` code path.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "@aerogram/embedded-pg";
import { createTestDatabase, requireServer, type TestDatabase, tempDir } from "@aerogram/testkit";
import pg from "pg";
import {
  AccountExistsError,
  DuplicateDeliveryError,
  decodeFlags,
  indexedHeader,
  loadMigrations,
  type MessageCriterion,
  migrate,
  Store,
  SYSTEM_FLAGS,
} from "../src/index.ts";

const BLOB = "a".repeat(64);

function storeContract(
  name: string,
  open: () => Promise<{ store: Store; url: string; cleanup(): Promise<void> }>,
) {
  describe(name, () => {
    let store: Store;
    let url: string;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, url, cleanup } = await open());
    });
    after(async () => {
      await store?.close();
      await cleanup?.();
    });

    test("migrations are idempotent and safe when several replicas start at once", async () => {
      const pools = [1, 2, 3].map(() => new pg.Pool({ connectionString: url, max: 1 }));
      try {
        const applied = await Promise.all(pools.map((p) => migrate(p)));
        assert.deepEqual(applied, [[], [], []], "Store.open already applied everything");
        const { rows } = await store.pool.query("SELECT version FROM schema_migrations ORDER BY version");
        assert.deepEqual(
          rows.map((r) => r.version),
          (await loadMigrations()).map((m) => m.version),
        );
      } finally {
        await Promise.all(pools.map((p) => p.end()));
      }
    });

    test("accounts: create with default mailboxes, aliases, authenticate, disable", async () => {
      const acct = await store.accounts.create({ address: "Alice@Example.COM", password: "s3cret pass" });
      assert.equal(acct.address, "alice@example.com");
      const boxes = await store.mailboxes.list(acct.id);
      assert.deepEqual(boxes.map((b) => [b.name, b.specialUse]).sort(), [
        ["Archive", "\\Archive"],
        ["Drafts", "\\Drafts"],
        ["INBOX", null],
        ["Junk", "\\Junk"],
        ["Sent", "\\Sent"],
        ["Trash", "\\Trash"],
      ]);
      assert.equal(new Set(boxes.map((b) => b.uidValidity)).size, 6, "UIDVALIDITY differs per mailbox");
      await assert.rejects(
        store.accounts.create({ address: "alice@example.com", password: "x" }),
        AccountExistsError,
      );
      await store.accounts.addAlias(acct.id, "postmaster@example.com");
      await assert.rejects(store.accounts.addAlias(acct.id, "ALICE@example.com"), AccountExistsError);
      assert.equal((await store.accounts.byAddress("POSTMASTER@example.com"))?.id, acct.id);
      assert.equal((await store.accounts.authenticate("alice@example.com", "s3cret pass"))?.id, acct.id);
      assert.equal((await store.accounts.authenticate("postmaster@example.com", "s3cret pass"))?.id, acct.id);
      assert.equal(await store.accounts.authenticate("alice@example.com", "wrong"), undefined);
      assert.equal(await store.accounts.authenticate("nobody@example.com", "s3cret pass"), undefined);
      assert.equal(await store.accounts.isLocalDomain("EXAMPLE.com"), true);
      assert.equal(await store.accounts.isLocalDomain("elsewhere.org"), false);
      await store.accounts.setDisabled(acct.id, true);
      assert.equal(await store.accounts.authenticate("alice@example.com", "s3cret pass"), undefined);
    });

    test("INBOX is case-insensitive", async () => {
      const acct = await store.accounts.create({ address: "inbox-case@example.com", password: "pw" });
      const a = await store.mailboxes.byName(acct.id, "inbox");
      const b = await store.mailboxes.byName(acct.id, "INBOX");
      assert.ok(a && b && a.id === b.id);
    });

    test("append, flags, expunge and the change log", async () => {
      const acct = await store.accounts.create({ address: "changes@example.com", password: "pw" });
      const inbox = (await store.mailboxes.byName(acct.id, "INBOX"))!;
      const start = inbox.highestModseq;
      const [r] = await store.messages.append([
        {
          mailboxId: inbox.id,
          messages: [
            { blobKey: BLOB, size: 100, flags: ["\\Seen", "$Forwarded"] },
            { blobKey: BLOB, size: 50 },
            { blobKey: BLOB, size: 25, flags: ["\\Deleted"] },
          ],
        },
      ]);
      assert.deepEqual(r!.uids, [1, 2, 3]);
      assert.equal(r!.modseq, start + 1);
      let ch = await store.messages.changesSince(inbox.id, start);
      assert.deepEqual(
        ch.changed.map((c) => [c.uid, decodeFlags(c.flags, c.keywords)]),
        [
          [1, ["\\Seen", "$Forwarded"]],
          [2, []],
          [3, ["\\Deleted"]],
        ],
      );
      assert.equal(ch.uidNext, 4);
      const box = (await store.mailboxes.byId(inbox.id))!;
      assert.equal(box.messageCount, 3);
      assert.equal(box.totalSize, 175);
      assert.deepEqual(box.keywords, ["$Forwarded"]);
      assert.equal(await store.messages.countUnseen(inbox.id), 2);

      // Nothing changed: one cheap read, empty delta.
      ch = await store.messages.changesSince(inbox.id, r!.modseq);
      assert.deepEqual([ch.changed, ch.expunged, ch.highestModseq], [[], [], r!.modseq]);

      // +FLAGS \Seen on 1 (already seen) and 2: only 2 changes and gets a new MODSEQ.
      const f = await store.messages.updateFlags({
        mailboxId: inbox.id,
        uids: [1, 2],
        operation: "add",
        flags: ["\\Seen"],
      });
      assert.deepEqual(
        f.updated.map((u) => u.uid),
        [2],
      );
      assert.equal(f.modseq, r!.modseq + 1);
      // UNCHANGEDSINCE older than message 2's MODSEQ: 2 is reported MODIFIED, 1 changes.
      const g = await store.messages.updateFlags({
        mailboxId: inbox.id,
        uids: [1, 2],
        operation: "remove",
        flags: ["\\Seen", "$Forwarded"],
        unchangedSince: r!.modseq,
      });
      assert.deepEqual(
        g.updated.map((u) => [u.uid, u.flags, u.keywords]),
        [[1, 0, []]],
      );
      assert.deepEqual(g.modified, [2]);

      const e = await store.messages.expunge(inbox.id, "all", { onlyDeleted: true });
      assert.deepEqual(e.uids, [3]);
      ch = await store.messages.changesSince(inbox.id, f.modseq);
      assert.deepEqual(
        ch.changed.map((c) => c.uid),
        [1],
      );
      assert.deepEqual(ch.expunged, [3]);
      assert.equal(ch.highestModseq, e.modseq);
      const after = (await store.mailboxes.byId(inbox.id))!;
      assert.equal(after.messageCount, 2);
      assert.equal(after.totalSize, 150);
      // UIDs are never reused: the next append gets 4 although 3 is gone.
      const [r2] = await store.messages.append([
        { mailboxId: inbox.id, messages: [{ blobKey: BLOB, size: 1 }] },
      ]);
      assert.deepEqual(r2!.uids, [4]);
    });

    test("multi-recipient append is one transaction: a bad target rolls back all", async () => {
      const a = await store.accounts.create({ address: "rcpt-a@example.com", password: "pw" });
      const inbox = (await store.mailboxes.byName(a.id, "INBOX"))!;
      await assert.rejects(
        store.messages.append([
          { mailboxId: inbox.id, messages: [{ blobKey: BLOB, size: 10 }] },
          { mailboxId: 999_999, messages: [{ blobKey: BLOB, size: 10 }] },
        ]),
      );
      const ch = await store.messages.changesSince(inbox.id, 0);
      assert.equal(ch.changed.length, 0);
      assert.equal(ch.uidNext, 1, "the rolled-back allocation left UIDNEXT alone");
    });

    test("dedupe key: a second append with the key inside the window adds nothing", async () => {
      const a = await store.accounts.create({ address: "dedupe-a@example.com", password: "pw" });
      const b = await store.accounts.create({ address: "dedupe-b@example.com", password: "pw" });
      const boxA = (await store.mailboxes.byName(a.id, "INBOX"))!;
      const boxB = (await store.mailboxes.byName(b.id, "INBOX"))!;
      const targets = [
        { mailboxId: boxA.id, messages: [{ blobKey: BLOB, size: 10 }] },
        { mailboxId: boxB.id, messages: [{ blobKey: BLOB, size: 10 }] },
      ];
      const dedupe = { key: "k1", windowSeconds: 3600 };
      const first = await store.messages.append(targets, { dedupe });
      assert.deepEqual(
        first.map((r) => r.uids),
        [[1], [1]],
      );
      await assert.rejects(store.messages.append(targets, { dedupe }), DuplicateDeliveryError);
      // Concurrent retries with one key: exactly one wins.
      const race = await Promise.allSettled(
        [1, 2, 3].map(() => store.messages.append(targets, { dedupe: { key: "k2", windowSeconds: 3600 } })),
      );
      assert.equal(race.filter((r) => r.status === "fulfilled").length, 1);
      assert.ok(
        race.every((r) => r.status === "fulfilled" || r.reason instanceof DuplicateDeliveryError),
        "the losers see the winner's key",
      );
      assert.equal((await store.mailboxes.byName(a.id, "INBOX"))!.messageCount, 2);
      assert.equal((await store.mailboxes.byName(b.id, "INBOX"))!.messageCount, 2);
      // Outside the window (0 s) the same key delivers again; pruning forgets old keys.
      await store.messages.append(targets, { dedupe: { key: "k1", windowSeconds: 0 } });
      assert.equal((await store.mailboxes.byName(a.id, "INBOX"))!.messageCount, 3);
      await new Promise((r) => setTimeout(r, 20));
      assert.ok((await store.messages.pruneDedupeKeys(0)) >= 2);
      // Without a dedupe key nothing changes from before.
      await store.messages.append(targets);
      await store.messages.append(targets);
      assert.equal((await store.mailboxes.byName(a.id, "INBOX"))!.messageCount, 5);
    });

    test("every removal is in the expunge log with the counters: EXPUNGE, MOVE, INBOX rename", async () => {
      const acct = await store.accounts.create({ address: "expunge-log@example.com", password: "pw" });
      const inbox = (await store.mailboxes.byName(acct.id, "INBOX"))!;
      const trash = (await store.mailboxes.byName(acct.id, "Trash"))!;
      const [r] = await store.messages.append([
        {
          mailboxId: inbox.id,
          messages: [10, 20, 30, 40].map((size) => ({ blobKey: BLOB, size })),
        },
      ]);
      const [a, b, c, d] = r!.uids as [number, number, number, number];
      const expunged = await store.messages.expunge(inbox.id, [a]);
      const moved = await store.messages.move(inbox.id, [b], trash.id);
      assert.deepEqual(moved.sourceUids, [b]);
      let box = (await store.mailboxes.byId(inbox.id))!;
      assert.equal(box.messageCount, 2);
      assert.equal(box.totalSize, 70);
      assert.equal(box.highestModseq, moved.sourceModseq);
      const since = await store.messages.changesSince(inbox.id, r!.modseq);
      assert.deepEqual(since.expunged, [a, b]);
      assert.ok(expunged.modseq < moved.sourceModseq!);
      const renamed = await store.mailboxes.rename(acct.id, "INBOX", "Old");
      assert.deepEqual(renamed.inboxExpunge?.uids, [c, d]);
      box = (await store.mailboxes.byId(inbox.id))!;
      assert.equal(box.messageCount, 0);
      assert.equal(box.totalSize, 0);
      assert.equal(box.highestModseq, renamed.inboxExpunge!.modseq);
      assert.deepEqual((await store.messages.changesSince(inbox.id, moved.sourceModseq!)).expunged, [c, d]);
      const old = (await store.mailboxes.byName(acct.id, "Old"))!;
      assert.equal(old.messageCount, 2);
      assert.equal(old.totalSize, 70);
      assert.deepEqual(await store.accounts.usage(acct.id), { bytes: 90, messages: 3 });
    });

    test("search: typed criteria over the stored columns, one query", async () => {
      const acct = await store.accounts.create({ address: "search@example.com", password: "pw" });
      const inbox = (await store.mailboxes.byName(acct.id, "INBOX"))!;
      const index = (subject: string, from: string) => ({
        envelope: "()",
        bodyStructure: "()",
        body: "()",
        mime: {},
        headerDate: null,
        subject,
        from,
        to: null,
        cc: null,
        bcc: null,
        messageId: null,
        inReplyTo: null,
        preview: null,
      });
      const [r] = await store.messages.append([
        {
          mailboxId: inbox.id,
          messages: [
            {
              blobKey: BLOB,
              size: 100,
              flags: ["\\Seen", "$Work"],
              internalDate: new Date("2024-03-01T23:30:00Z"),
              index: index("Quarterly Report", "Alice <alice@example.org>"),
            },
            {
              blobKey: BLOB,
              size: 2000,
              internalDate: new Date("2024-03-02T00:30:00Z"),
              index: index("lunch?", "bob@example.net"),
            },
            { blobKey: BLOB, size: 50, flags: ["\\Deleted"], internalDate: new Date("2024-03-03T12:00:00Z") },
          ],
        },
      ]);
      const [one, two, three] = r!.uids as [number, number, number];
      const search = (...criteria: MessageCriterion[]) => store.messages.searchUids(inbox.id, criteria);
      assert.deepEqual(await search(), [one, two, three]);
      assert.deepEqual(await search({ kind: "none" }), []);
      assert.deepEqual(await search({ kind: "flags", bits: SYSTEM_FLAGS["\\Seen"], set: false }), [
        two,
        three,
      ]);
      assert.deepEqual(await search({ kind: "keyword", keyword: "$WORK" }), [one]);
      assert.deepEqual(await search({ kind: "header", field: "subject", value: "REPORT" }), [one]);
      assert.deepEqual(await search({ kind: "header", field: "from", value: "example.NET" }), [two]);
      assert.deepEqual(await search({ kind: "internalDate", op: "on", day: "2024-03-02" }), [two]);
      assert.deepEqual(await search({ kind: "internalDate", op: "before", day: "2024-03-02" }), [one]);
      assert.deepEqual(await search({ kind: "internalDate", op: "since", day: "2024-03-02" }), [two, three]);
      assert.deepEqual(await search({ kind: "size", op: "larger", octets: 100 }), [two]);
      assert.deepEqual(await search({ kind: "size", op: "smaller", octets: 100 }), [three]);
      assert.deepEqual(await search({ kind: "age", op: "older", seconds: 3600 }), [one, two, three]);
      assert.deepEqual(await search({ kind: "age", op: "younger", seconds: 3600 }), []);
      assert.deepEqual(await search({ kind: "modseq", atLeast: BigInt(r!.modseq + 1) }), []);
      assert.deepEqual(await search({ kind: "uids", uids: [three, one, 999] }), [one, three]);
      assert.deepEqual(
        await search({
          kind: "or",
          left: { kind: "not", operand: { kind: "uids", uids: [one, two] } },
          right: { kind: "and", operands: [{ kind: "keyword", keyword: "$work" }, { kind: "all" }] },
        }),
        [one, three],
      );
      // Parameters are values, never SQL text.
      assert.deepEqual(
        await search({ kind: "header", field: "subject", value: "'); DROP TABLE messages; --" }),
        [],
      );
      assert.equal(indexedHeader("Message-ID"), "message-id");
      assert.equal(indexedHeader("X-Spam"), undefined);
    });
  });
}

let realPg: TestDatabase | undefined;
describe("real PostgreSQL", async () => {
  storeContract("store on PostgreSQL", async () => {
    // Empty, not the testkit's migrated copy: Store.open must apply every migration here.
    realPg = await createTestDatabase({ empty: true });
    const store = await Store.open({ url: realPg.url, poolMax: 4 });
    return { store, url: realPg.url, cleanup: () => realPg!.drop() };
  });

  test("200 concurrent appends from 4 pool clients: UIDs 1..200, MODSEQ strictly increasing", async (t) => {
    if (!(await requireServer(t, "postgres"))) return;
    const db = await createTestDatabase();
    // Two Store instances (as two replicas would have), two connections each.
    const replicas = [
      await Store.open({ url: db.url, poolMax: 2 }),
      await Store.open({ url: db.url, poolMax: 2 }),
    ];
    try {
      const acct = await replicas[0]!.accounts.create({ address: "busy@example.com", password: "pw" });
      const inbox = (await replicas[0]!.mailboxes.byName(acct.id, "INBOX"))!;
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          replicas[i % 2]!.messages.append([
            { mailboxId: inbox.id, messages: [{ blobKey: BLOB, size: i + 1 }] },
          ]),
        ),
      );
      const uids = results.map((r) => r[0]!.uids[0]!).sort((a, b) => a - b);
      assert.deepEqual(
        uids,
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      const rows = await replicas[1]!.messages.listUids(inbox.id);
      assert.equal(rows.length, 200);
      for (let i = 1; i < rows.length; i++) {
        assert.ok(rows[i]!.modseq > rows[i - 1]!.modseq, `MODSEQ increases with UID at ${rows[i]!.uid}`);
      }
      const box = (await replicas[1]!.mailboxes.byId(inbox.id))!;
      assert.equal(box.highestModseq, rows.at(-1)!.modseq);
      assert.equal(box.uidNext, 201);
      assert.equal(box.messageCount, 200);
      assert.equal(box.totalSize, (200 * 201) / 2);
    } finally {
      await Promise.all(replicas.map((s) => s.close()));
      await db.drop();
    }
  });
});

describe("embedded PGlite", () => {
  let embedded: EmbeddedPostgres | undefined;
  storeContract("store on embedded PGlite", async () => {
    const dir = await tempDir("aerogram-pglite-");
    embedded = await startEmbeddedPostgres({ dir: `${dir.path}/pg`, port: 0 });
    const store = await Store.open({ url: embedded.url, poolMax: 4 });
    return {
      store,
      url: embedded.url,
      cleanup: async () => {
        await embedded?.stop();
        await dir.remove();
      },
    };
  });
});
