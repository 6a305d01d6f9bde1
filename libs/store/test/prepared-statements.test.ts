/**
 * Named (prepared) hot statements (db.ts named, inMailboxLockStatement): kept
 * on real PostgreSQL, dropped on embedded PGlite (one backend behind every
 * pool connection, where names collide) and with preparedStatements: false
 * (DATABASE_PREPARED_STATEMENTS=0, for transaction-pooling proxies).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startEmbeddedPostgres } from "@aerogram/embedded-pg";
import { createTestDatabase, requireServer, tempDir } from "@aerogram/testkit";
import { inMailboxLockStatement, Store } from "../src/index.ts";

/** Statements prepared on the connection that runs this (the pool has one). */
async function preparedNames(store: Store): Promise<string[]> {
  const { rows } = await store.pool.query<{ name: string }>("SELECT name FROM pg_prepared_statements");
  return rows.map((r) => r.name);
}

let accounts = 0;

/** LIST, SELECT's read, STORE and EXPUNGE of one account's INBOX. */
async function hotStatements(store: Store): Promise<void> {
  const address = `p${process.pid}-${++accounts}@example.org`;
  const account = await store.accounts.create({ address, password: "pw" });
  const inbox = (await store.mailboxes.byName(account.id, "INBOX"))!;
  const [appended] = await store.messages.append([
    { mailboxId: inbox.id, messages: [{ blobKey: "b".repeat(64), size: 10 }] },
  ]);
  await store.acl.listable(account.id);
  assert.equal((await store.mailboxes.openForSelect(inbox.id, true))?.messages.length, 1);
  await store.messages.updateFlags({
    mailboxId: inbox.id,
    uids: appended!.uids,
    operation: "add",
    flags: ["\\Deleted"],
  });
  assert.deepEqual(
    (await store.messages.expunge(inbox.id, "all", { onlyDeleted: true })).uids,
    appended!.uids,
  );
}

test("on PostgreSQL the hot statements are prepared once per connection, and not at all when turned off", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  try {
    const named = await Store.open({ url: db.url, poolMax: 1 });
    try {
      await hotStatements(named);
      await hotStatements(named);
      const names = await preparedNames(named);
      assert.ok(names.length >= 4, `prepared: ${names.join(", ")}`);
      assert.ok(names.every((n) => n.startsWith("ag_") || n.endsWith("-login-credentials")));
    } finally {
      await named.close();
    }
    const unnamed = await Store.open({ url: db.url, poolMax: 1, preparedStatements: false });
    try {
      await hotStatements(unnamed);
      assert.deepEqual(await preparedNames(unnamed), []);
    } finally {
      await unnamed.close();
    }
  } finally {
    await db.drop();
  }
});

test("on embedded PGlite (one backend for the whole pool) nothing is prepared and concurrent statements work", async () => {
  const dir = await tempDir();
  const embedded = await startEmbeddedPostgres({ dir: `${dir.path}/pg`, port: 0 });
  try {
    const store = await Store.open({ url: embedded.url, poolMax: 4 });
    try {
      await Promise.all([hotStatements(store), hotStatements(store), hotStatements(store)]);
      assert.deepEqual(await preparedNames(store), []);
    } finally {
      await store.close();
    }
  } finally {
    await embedded.stop();
    await dir.remove();
  }
});

test("a locked write is one pipeline: the lock's HIGHESTMODSEQ, the write's rows, its settings for that transaction only", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  try {
    const store = await Store.open({ url: db.url, poolMax: 1 });
    try {
      const account = await store.accounts.create({
        address: `lock${process.pid}@example.org`,
        password: "pw",
      });
      const inbox = (await store.mailboxes.byName(account.id, "INBOX"))!;
      // The write reads the settings its transaction runs with, and the head under the lock.
      const settings = (head: string) =>
        `SELECT current_setting('synchronous_commit') AS sc, current_setting('plan_cache_mode') AS pcm,
                ${head} AS head, $2::text AS echo`;
      for (const durable of [true, false, true]) {
        const { head, rows } = await inMailboxLockStatement<{
          sc: string;
          pcm: string;
          head: number;
          echo: string;
        }>(store.pool, inbox.id, settings, [inbox.id, 'it\'s {a} \\ "b"'], ["integer", "text"], {
          waitForFlush: durable,
        });
        assert.equal(head, inbox.highestModseq);
        assert.deepEqual(rows, [
          {
            sc: durable ? "on" : "off",
            pcm: "force_generic_plan",
            head: inbox.highestModseq,
            echo: 'it\'s {a} \\ "b"',
          },
        ]);
        // Both were local to the pipeline's transaction: the connection is back to its defaults.
        const after = await store.pool.query(
          "SELECT current_setting('synchronous_commit') AS sc, current_setting('plan_cache_mode') AS pcm",
        );
        assert.deepEqual(after.rows, [{ sc: "on", pcm: "auto" }]);
      }
      // No such mailbox: no head, and the write still runs (it finds nothing to do).
      const gone = await inMailboxLockStatement(
        store.pool,
        987654321,
        settings,
        [987654321, "x"],
        ["integer", "text"],
      );
      assert.equal(gone.head, undefined);
      // A failing write rolls the pipeline back and the pool goes on with a fresh connection.
      await assert.rejects(
        inMailboxLockStatement(
          store.pool,
          inbox.id,
          () => "SELECT 1 / ($1::int - $1::int) AS boom",
          [inbox.id],
          ["integer"],
        ),
        /division by zero/,
      );
      assert.equal((await store.mailboxes.byName(account.id, "INBOX"))?.id, inbox.id);
    } finally {
      await store.close();
    }
  } finally {
    await db.drop();
  }
});
