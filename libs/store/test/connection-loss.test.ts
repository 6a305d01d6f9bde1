/**
 * A database connection that dies while a client is checked out of the pool
 * (a transaction in progress when PostgreSQL restarts) fails that transaction
 * and nothing else: the pg Client's 'error' event must not crash the process,
 * and the pool serves the next query on a fresh connection. The connection is
 * really killed, by pg_terminate_backend from another connection.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createTestDatabase, requireServer } from "@aerogram/testkit";
import { Store, withTransaction } from "../src/index.ts";

test("a connection killed in the middle of withTransaction rejects it; the process and the pool carry on", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  const errors: Error[] = [];
  const store = await Store.open({ url: db.url, poolMax: 2, onPoolError: (err) => errors.push(err) });
  try {
    const killed = withTransaction(store.pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      await store.pool.query("SELECT pg_terminate_backend($1)", [rows[0]!.pid]);
      // Between two queries: the client hears of the dead connection now, with nothing in flight.
      await new Promise((r) => setTimeout(r, 300));
      await client.query("SELECT 1");
    });
    await assert.rejects(killed);
    assert.ok(errors.length >= 1, "the lost connection was reported to onPoolError");
    const { rows } = await store.pool.query<{ ok: number }>("SELECT 1 AS ok");
    assert.equal(rows[0]!.ok, 1);
  } finally {
    await store.close();
    await db.drop();
  }
});
