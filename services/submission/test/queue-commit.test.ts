/**
 * The queue rows' group commit against a real Postgres: 30 messages enqueued
 * at once share statements (fewer groups than messages), every row lands
 * with its domain's recipients and DSN parameters, and a message whose row
 * cannot be inserted (its account gone: foreign key) fails alone while the
 * rest of its group is committed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { QueueCommitter } from "../src/queue-commit.ts";
import { type Harness, startHarness } from "./support.ts";

let h: Harness;
before(async (t) => {
  if (!(await requireServer(t as never, "postgres")) || !(await requireServer(t as never, "redis"))) return;
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

test("group commit: shared statements, every row right, a bad row fails alone", async () => {
  const account = await h.runtime.store.accounts.create({ address: "gc@local.test", password: "pw-gc-123" });
  const committer = new QueueCommitter(h.runtime.store, 64, 1);
  const expires = new Date(Date.now() + 3600_000);
  const results = await Promise.allSettled(
    Array.from({ length: 30 }, (_, i) =>
      committer.enqueue({
        blobKey: `${i}`.padStart(64, "0"),
        size: 100 + i,
        sender: "gc@local.test",
        // Message 7's account does not exist: its row violates the foreign key.
        senderAccountId: i === 7 ? account.id + 100_000 : account.id,
        messageId: `<gc.${i}@local.test>`,
        byDomain: new Map([
          [`a${i % 3}.test`, [`x${i}@a${i % 3}.test`]],
          ["b.test", [`y${i}@b.test`, `z${i}@b.test`]],
        ]),
        expiresAt: expires,
        dsnRet: i % 2 ? "FULL" : null,
        dsnEnvid: `env${i}`,
        recipientDsn: new Map([[`y${i}@b.test`, { notify: ["SUCCESS"] }]]),
      }),
    ),
  );
  assert.deepEqual(
    results.map((r, i) => (r.status === "rejected" ? i : -1)).filter((i) => i >= 0),
    [7],
  );
  assert.ok(committer.stats.groups < 29, `${committer.stats.groups} groups for 29 messages`);
  const rows = await h.runtime.store.outbound.list({ limit: 1000 });
  assert.equal(rows.length, 29 * 2);
  const row = rows.find((r) => r.messageId === "<gc.11@local.test>" && r.domain === "b.test")!;
  assert.deepEqual(row.recipients, ["y11@b.test", "z11@b.test"]);
  assert.equal(row.size, 111);
  assert.equal(row.dsnRet, "FULL");
  assert.equal(row.dsnEnvid, "env11");
  assert.deepEqual(row.recipientDsn, { "y11@b.test": { notify: ["SUCCESS"] } });
  assert.equal(row.expiresAt.getTime(), expires.getTime());
  const other = rows.find((r) => r.messageId === "<gc.11@local.test>" && r.domain !== "b.test")!;
  assert.deepEqual(other.recipients, ["x11@a2.test"]);
  assert.deepEqual(other.recipientDsn, {});
  assert.equal(rows.filter((r) => r.messageId === "<gc.7@local.test>").length, 0);
});
