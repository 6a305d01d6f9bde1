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
import { Store } from "../src/index.ts";

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
