/**
 * The connection pool and the small query helpers every repository uses.
 */
import pg from "pg";

/** int8 (bigint) arrives from pg as a string; ours (UIDs, MODSEQs, sizes, counts) fit in a double. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} exceeds 2^53`);
  return n;
}

const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === pg.types.builtins.INT8 && format !== "binary") return parseInt8;
    return pg.types.getTypeParser(oid, format);
  },
};

export interface PoolOptions {
  url: string;
  max: number;
  /** Called on errors of idle clients (a restarted server); the pool replaces them. */
  onError?: (err: Error) => void;
  applicationName?: string;
  /** Called after every query with its duration (for a latency histogram). */
  onQuery?: QueryTimer;
}

/** Receives each query's round-trip time in seconds and whether it succeeded. */
export type QueryTimer = (seconds: number, ok: boolean) => void;

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that runs a query: the pool or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, "query">;

export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max,
    types,
    application_name: opts.applicationName ?? "aerogram",
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    // A query stuck on a dead server must not hang a session forever.
    query_timeout: 30_000,
    keepAlive: true,
  });
  // Without a listener an idle client's error (server restart) would crash the process.
  pool.on("error", (err) => opts.onError?.(err));
  // The pool listens on idle clients only: it removes its listener while a client is
  // checked out (pool.connect(): withTransaction, migrations), and a pg Client emits
  // 'error' when its connection dies, even with a query in flight. With no listener
  // that crashes the process on a database restart. Every client gets one of ours for
  // its whole life; the failed query still rejects, and withTransaction then discards
  // the client instead of returning it to the pool.
  pool.on("connect", (client) => {
    client.on("error", (err) => opts.onError?.(err));
  });
  const onQuery = opts.onQuery;
  // Every query (pool.query and those inside transactions) goes through a client's query().
  if (onQuery) pool.on("connect", (client) => timeQueries(client, onQuery));
  return pool;
}

type AnyQuery = (...args: unknown[]) => unknown;

/** Wraps client.query to report durations; callback, promise and submittable forms pass through. */
function timeQueries(client: pg.PoolClient, report: QueryTimer): void {
  const original = client.query.bind(client) as AnyQuery;
  const timed: AnyQuery = (...args) => {
    const started = performance.now();
    const done = (ok: boolean) => report((performance.now() - started) / 1000, ok);
    const last = args[args.length - 1];
    if (typeof last === "function") {
      args[args.length - 1] = (err: unknown, res: unknown) => {
        done(!err);
        (last as (err: unknown, res: unknown) => void)(err, res);
      };
      return original(...args);
    }
    const result = original(...args);
    if (result instanceof Promise) {
      result.then(
        () => done(true),
        () => done(false),
      );
    }
    return result;
  };
  (client as unknown as { query: AnyQuery }).query = timed;
}

/**
 * Runs fn between `begin` (whose answer fn gets) and COMMIT on one pooled
 * client; rolls back on error and always releases the client (a client whose
 * ROLLBACK failed is gone and is not returned to the pool).
 */
async function inTransaction<B, T>(
  pool: pg.Pool,
  begin: (client: pg.PoolClient) => Promise<B>,
  fn: (client: pg.PoolClient, began: B) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    const result = await fn(client, await begin(client));
    await client.query("COMMIT");
    return result;
  } catch (err) {
    try {
      await client.query("ROLLBACK");
    } catch {
      broken = true;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

/** Runs fn in a transaction; rolls back on error and always releases the client. */
export function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(
    pool,
    (client) => client.query("BEGIN"),
    (client) => fn(client),
  );
}

/**
 * withTransaction for a write to one mailbox: BEGIN and the mailbox row's lock
 * (`SELECT highestmodseq … FOR UPDATE`) travel as ONE simple-protocol message,
 * one round trip instead of two. fn gets the HIGHESTMODSEQ under the lock, or
 * undefined when the mailbox does not exist. The id is inlined, so it must be a
 * safe integer (checked).
 */
export function withMailboxLock<T>(
  pool: pg.Pool,
  mailboxId: number,
  fn: (client: pg.PoolClient, highestModseq: number | undefined) => Promise<T>,
): Promise<T> {
  if (!Number.isSafeInteger(mailboxId)) throw new RangeError(`mailbox id ${mailboxId} is not an integer`);
  return inTransaction(
    pool,
    async (client) => {
      const results = (await client.query(
        `BEGIN; SELECT highestmodseq FROM mailboxes WHERE id = ${mailboxId} FOR UPDATE`,
      )) as unknown as pg.QueryResult<{ highestmodseq: number }>[];
      return results[1]?.rows[0]?.highestmodseq;
    },
    fn,
  );
}
