/**
 * A backend failure in the middle of a view sync must not lose what the sync
 * found: the view may change only once every query of the sync has answered,
 * or the EXISTS/EXPUNGE that tell the client would be lost and its view would
 * differ from the server's for the rest of the session.
 *
 * The failure is a real database error: a trigger refuses the \Recent claim
 * (the UPDATE of mailboxes.recent_uid an IMAP4rev1 sync makes after it read
 * the new messages), then is dropped again.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Delivery } from "@aerogram/delivery";
import { requireServer } from "@aerogram/testkit";
import type pg from "pg";
import { createAccount, gatewayPerFile, message, RawClient } from "./helpers.ts";

const fixture = gatewayPerFile();

/** Makes every \Recent claim (UPDATE of mailboxes.recent_uid) fail until the returned function runs. */
async function refuseRecentClaims(pool: pg.Pool): Promise<() => Promise<void>> {
  await pool.query(`CREATE FUNCTION refuse_recent() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'recent claim refused (test)'; END $$`);
  await pool.query(`CREATE TRIGGER refuse_recent BEFORE UPDATE OF recent_uid ON mailboxes
    FOR EACH ROW EXECUTE FUNCTION refuse_recent()`);
  return async () => {
    await pool.query("DROP TRIGGER refuse_recent ON mailboxes");
    await pool.query("DROP FUNCTION refuse_recent()");
  };
}

test("a sync whose \\Recent claim fails reports the new message at the next command", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { runtime, port } = fixture.gateway;
  const account = await createAccount(runtime);
  const client = await RawClient.connect(port);
  const pool = runtime.store.pool;
  try {
    assert.match(await client.login(account.user, account.pass), /OK/);
    assert.match(await client.command("SELECT INBOX"), /\* 0 EXISTS/);
    const inbox = await runtime.store.mailboxes.byName(account.id, "INBOX");
    const blob = await runtime.blobs.putBuffer(Buffer.from(message("during the failure")));
    await runtime.store.messages.append([
      { mailboxId: inbox!.id, messages: [{ blobKey: blob.key, size: blob.size }] },
    ]);
    const restore = await refuseRecentClaims(pool);
    try {
      // The sync fails after reading the new message; NOOP itself succeeded.
      const during = await client.command("NOOP");
      assert.doesNotMatch(during, /EXISTS/);
      assert.match(during, /OK/);
    } finally {
      await restore();
    }
    const after = await client.command("NOOP");
    assert.match(after, /\* 1 EXISTS\r\n\* 1 RECENT\r\n/);
    assert.match(await client.command("FETCH 1 (UID FLAGS)"), /\* 1 FETCH \(UID 1 FLAGS \(\\Recent\)\)/);
  } finally {
    client.close();
  }
});

test("an IDLE push that fails on a backend error is retried by the next poll tick, not 30 s later", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { runtime, port } = fixture.gateway;
  const account = await createAccount(runtime);
  const client = await RawClient.connect(port);
  const pool = runtime.store.pool;
  try {
    assert.match(await client.login(account.user, account.pass), /OK/);
    assert.match(await client.command("SELECT INBOX"), /\* 0 EXISTS/);
    client.write("i IDLE\r\n");
    await client.readUntil((s) => s.includes("+ idling"));
    // The server's first tick after start polls once whatever the interval; be past it.
    await new Promise((r) => setTimeout(r, 2500));
    const inbox = await runtime.store.mailboxes.byName(account.id, "INBOX");
    const restore = await refuseRecentClaims(pool);
    try {
      // Delivery publishes the event; the push it wakes fails on the refused claim.
      const delivery = new Delivery({ store: runtime.store, blobs: runtime.blobs, events: runtime.events });
      await delivery.deliver(Buffer.from(message("while the claim fails")), [{ mailboxId: inbox!.id }]);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await restore();
    }
    // No new event comes: the poll (every 2 s after a failure, else every 30 s) must find it.
    await client.readUntil((s) => /\* 1 EXISTS\r\n/.test(s), 10_000);
    client.write("DONE\r\n");
    await client.readUntil((s) => /i OK/.test(s));
  } finally {
    client.close();
  }
});
