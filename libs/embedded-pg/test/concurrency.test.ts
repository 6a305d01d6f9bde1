/**
 * The concurrency contract: what several `pg` pool clients get from the
 * embedded database over its sockets is what they get from a real PostgreSQL.
 * One test body runs against both (the embedded server and TEST_DATABASE_URL),
 * so "same answers" is checked, not assumed: interleaved transactions,
 * prepared statements of the same name on several connections, advisory
 * locks, a rollback or an error on one client while others work, a client that
 * dies inside a transaction.
 */
import assert from "node:assert/strict";
import { after, describe, type TestContext, test } from "node:test";
import { createTestDatabase, requireServer } from "@aerogram/testkit";
import pg from "pg";
import { startScratchEmbeddedPostgres } from "../src/index.ts";

interface Backend {
  url: string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn on a checked-out client inside BEGIN/COMMIT (ROLLBACK on error). */
async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    const out = await fn(c);
    await c.query("COMMIT");
    return out;
  } catch (err) {
    await c.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/** This database's advisory locks (pg_locks lists every database's on a shared server). */
const ADVISORY_LOCKS_HERE =
  "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

function contract(name: string, open: (t: TestContext) => Promise<Backend | undefined>) {
  describe(name, () => {
    // One backend per suite (PGlite takes seconds to start on a loaded machine); every test has its own tables.
    let backend: Backend | undefined;
    let pool: pg.Pool | undefined;
    let opened = false;
    after(async () => {
      await pool?.end();
      await backend?.stop();
    });
    const withPool = (title: string, body: (pool: pg.Pool) => Promise<void>) =>
      test(title, { timeout: 120_000 }, async (t) => {
        if (!opened) {
          opened = true;
          backend = await open(t);
          if (backend) {
            pool = new pg.Pool({ connectionString: backend.url, max: 10 });
            pool.on("error", () => {});
          }
        }
        if (!pool) return void t.skip("no backend");
        await body(pool);
      });

    withPool("interleaved transactions of many clients: no lost update, no dirty read", async (pool) => {
      await pool.query("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)");
      await pool.query("CREATE TABLE items (owner int NOT NULL, k int NOT NULL)");
      await pool.query("INSERT INTO counter VALUES (1, 0)");
      const seen = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          inTransaction(pool, async (c) => {
            const { rows } = await c.query<{ n: number }>("SELECT n FROM counter WHERE id = 1 FOR UPDATE");
            await c.query("INSERT INTO items SELECT $1, k FROM generate_series(1, 3) k", [i]);
            await sleep(i % 3); // let other clients' statements arrive meanwhile
            await c.query("UPDATE counter SET n = $1 WHERE id = 1", [rows[0]!.n + 1]);
            // Inside the transaction: its own three rows, none of anyone's uncommitted ones.
            const own = await c.query<{ owners: number[]; count: string }>(
              "SELECT count(*) AS count, array_agg(DISTINCT owner) FILTER (WHERE owner = $1) AS owners FROM items WHERE owner = $1",
              [i],
            );
            return { before: rows[0]!.n, own: Number(own.rows[0]!.count) };
          }),
        ),
      );
      assert.deepEqual(
        seen.map((s) => s.before).sort((a, b) => a - b),
        Array.from({ length: 24 }, (_, i) => i),
        "each transaction saw the previous one's committed count",
      );
      assert.ok(seen.every((s) => s.own === 3));
      const { rows } = await pool.query<{ n: number; items: string }>(
        "SELECT n, (SELECT count(*) FROM items) AS items FROM counter WHERE id = 1",
      );
      assert.deepEqual(rows[0], { n: 24, items: "72" });
    });

    withPool("prepared statements of the same name on several connections", async (pool) => {
      // Every client prepares "shared-name" (pg prepares it once per connection); then
      // two clients bind the same name to different SQL, as two services might.
      const answers = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const r = await pool.query<{ v: number }>({
            name: "shared-name",
            text: "SELECT $1::int * 2 AS v",
            values: [i],
          });
          return r.rows[0]!.v;
        }),
      );
      assert.deepEqual(
        answers,
        Array.from({ length: 40 }, (_, i) => i * 2),
      );
      const a = await pool.connect();
      const b = await pool.connect();
      try {
        for (let round = 0; round < 5; round++) {
          const [ra, rb] = await Promise.all([
            a.query<{ who: string }>({ name: "who", text: "SELECT 'a'::text AS who" }),
            b.query<{ who: string }>({
              name: "who",
              text: "SELECT 'b'::text || $1::text AS who",
              values: [round],
            }),
          ]);
          assert.equal(ra.rows[0]!.who, "a");
          assert.equal(rb.rows[0]!.who, `b${round}`);
        }
        // A name longer than Postgres keeps (63 bytes) still names one statement per connection.
        const long = `pop3-login-credentials-${"x".repeat(60)}`;
        const [la, lb] = await Promise.all([
          a.query<{ v: number }>({ name: long, text: "SELECT 1 AS v" }),
          b.query<{ v: number }>({ name: long, text: "SELECT 2 AS v" }),
        ]);
        assert.deepEqual([la.rows[0]!.v, lb.rows[0]!.v], [1, 2]);
      } finally {
        a.release();
        b.release();
      }
    });

    withPool("unnamed statements of concurrent queries never mix", async (pool) => {
      const texts = [
        "SELECT $1::text AS v",
        "SELECT upper($1::text) AS v",
        "SELECT $1::text || '!' AS v",
        "SELECT reverse($1::text) AS v",
      ];
      const expect = [
        (s: string) => s,
        (s: string) => s.toUpperCase(),
        (s: string) => `${s}!`,
        (s: string) => [...s].reverse().join(""),
      ];
      await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const k = i % texts.length;
          const arg = `q${i}x`;
          const r = await pool.query<{ v: string }>(texts[k]!, [arg]);
          assert.equal(r.rows[0]!.v, expect[k]!(arg));
        }),
      );
    });

    withPool("session advisory lock: a second client waits until the first unlocks", async (pool) => {
      const a = await pool.connect();
      const b = await pool.connect();
      const events: string[] = [];
      try {
        await a.query("SELECT pg_advisory_lock(4242)");
        events.push("a locked");
        const bLocked = b.query("SELECT pg_advisory_lock(4242)").then(() => events.push("b locked"));
        await sleep(300);
        // A works on while it holds the lock; B is still waiting.
        assert.equal((await a.query<{ v: number }>("SELECT 7 AS v")).rows[0]!.v, 7);
        events.push("a worked");
        // Recorded before the unlock is sent: B's lock may be granted (and its reply
        // read) before A's own unlock reply is, on a real server as well.
        events.push("a unlocking");
        await a.query("SELECT pg_advisory_unlock(4242)");
        await bLocked;
        // B works while it holds it, then lets go; A's try then succeeds.
        assert.equal((await b.query<{ v: number }>("SELECT 8 AS v")).rows[0]!.v, 8);
        const unlocked = await b.query<{ ok: boolean }>("SELECT pg_advisory_unlock(4242) AS ok");
        assert.equal(unlocked.rows[0]!.ok, true);
        const again = await a.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(4242) AS ok");
        assert.equal(again.rows[0]!.ok, true);
        await a.query("SELECT pg_advisory_unlock_all()");
      } finally {
        a.release();
        b.release();
      }
      assert.deepEqual(events, ["a locked", "a worked", "a unlocking", "b locked"]);
    });

    withPool("transaction advisory locks serialise read-modify-write", async (pool) => {
      await pool.query("CREATE TABLE tally (n int NOT NULL)");
      await pool.query("INSERT INTO tally VALUES (0)");
      await Promise.all(
        Array.from({ length: 16 }, () =>
          inTransaction(pool, async (c) => {
            await c.query("SELECT pg_advisory_xact_lock(77)");
            const { rows } = await c.query<{ n: number }>("SELECT n FROM tally");
            await sleep(1);
            await c.query("UPDATE tally SET n = $1", [rows[0]!.n + 1]);
          }),
        ),
      );
      assert.equal((await pool.query<{ n: number }>("SELECT n FROM tally")).rows[0]!.n, 16);
      // Ended with their transactions: nothing left held (in this database: pg_locks is
      // server-wide, and other files' migrations take advisory locks in their own databases).
      const held = await pool.query(ADVISORY_LOCKS_HERE);
      assert.equal(held.rowCount, 0);
    });

    withPool("a rollback or an error on one client does not touch another's work", async (pool) => {
      await pool.query("CREATE TABLE notes (who text NOT NULL)");
      const a = await pool.connect();
      try {
        await a.query("BEGIN");
        await a.query("INSERT INTO notes VALUES ('a')");
        // B's transaction is issued while A's is open; it completes on its own.
        const b = inTransaction(pool, (c) => c.query("INSERT INTO notes VALUES ('b')"));
        await sleep(100);
        await a.query("ROLLBACK");
        await b;
        // An error inside A's next transaction leaves it aborted (25P02) until ROLLBACK; others go on.
        await a.query("BEGIN");
        await assert.rejects(a.query("SELECT 1 / 0"), { code: "22012" });
        const other = pool.query<{ n: string }>("SELECT count(*) AS n FROM notes");
        await assert.rejects(a.query("SELECT 1"), { code: "25P02" });
        await a.query("ROLLBACK");
        assert.equal((await other).rows[0]!.n, "1");
        assert.equal((await a.query<{ v: number }>("SELECT 5 AS v")).rows[0]!.v, 5);
      } finally {
        a.release();
      }
      const { rows } = await pool.query<{ who: string }>("SELECT who FROM notes ORDER BY who");
      assert.deepEqual(
        rows.map((r) => r.who),
        ["b"],
      );
    });

    withPool("a client that dies inside a transaction: its work is undone, others continue", async (pool) => {
      await pool.query("CREATE TABLE t (v int)");
      const a = await pool.connect();
      await a.query("BEGIN");
      await a.query("INSERT INTO t VALUES (1)");
      await a.query({ name: "kept", text: "SELECT 1" });
      const waiting = pool.query("INSERT INTO t VALUES (2)");
      a.release(new Error("simulated crash")); // destroys the connection
      await waiting;
      const { rows } = await pool.query<{ v: number }>("SELECT v FROM t ORDER BY v");
      assert.deepEqual(
        rows.map((r) => r.v),
        [2],
      );
      const left = await pool.query(ADVISORY_LOCKS_HERE);
      assert.equal(left.rowCount, 0);
    });
  });
}

contract("embedded PGlite over its sockets", async () => {
  const e = await startScratchEmbeddedPostgres();
  return { url: e.url, stop: () => e.stop() };
});

contract("real PostgreSQL (TEST_DATABASE_URL)", async (t) => {
  if (!(await requireServer(t, "postgres"))) return undefined;
  // Empty: these tests create tables of their own.
  const db = await createTestDatabase({ empty: true });
  return { url: db.url, stop: () => db.drop() };
});

describe("embedded PGlite: what one backend cannot do", () => {
  test("a query that waits on a transaction held idle gets 40P01 instead of hanging", {
    timeout: 60_000,
  }, async () => {
    const warnings: string[] = [];
    const e = await startScratchEmbeddedPostgres({ idleOwnerMs: 400, warn: (m) => warnings.push(m) });
    const pool = new pg.Pool({ connectionString: e.url, max: 4 });
    pool.on("error", () => {});
    try {
      const a = await pool.connect();
      await a.query("BEGIN");
      // On a real server this runs at once; here it would wait for A forever.
      await assert.rejects(pool.query("SELECT 1"), { code: "40P01" });
      assert.match(warnings.join("\n"), /held the backend idle .* while connection \d+ waits/);
      await a.query("COMMIT");
      a.release();
      assert.equal((await pool.query<{ v: number }>("SELECT 3 AS v")).rows[0]!.v, 3);

      // A session lock held by an idle client: a real server answers B's try with false at once.
      const holder = await pool.connect();
      await holder.query("SELECT pg_advisory_lock(99)");
      await assert.rejects(pool.query("SELECT pg_try_advisory_lock(99)"), { code: "40P01" });
      await holder.query("SELECT pg_advisory_unlock(99)");
      holder.release();
      const tried = await pool.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(99) AS ok");
      assert.equal(tried.rows[0]!.ok, true);
    } finally {
      await pool.end();
      await e.stop();
    }
  });
});
