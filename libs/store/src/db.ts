/**
 * The connection pool and the small query helpers every repository uses.
 */
import { createHash } from "node:crypto";
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
    keepNamesOnlyWhereSafe(pool, client);
  });
  const onQuery = opts.onQuery;
  // Every query (pool.query and those inside transactions) goes through a client's query().
  if (onQuery) pool.on("connect", (client) => timeQueries(client, onQuery));
  return pool;
}

type AnyQuery = (...args: unknown[]) => unknown;

/** Set on a pool once its server is known to give each connection its own backend (namedStatementsSafe). */
const NAMED_SAFE = Symbol("aerogram.namedStatementsSafe");
type MaybeNamedPool = pg.Pool & { [NAMED_SAFE]?: boolean };

/**
 * Named (prepared) statements (`named()`) are parsed and planned once per
 * connection instead of at every call: on a busy IMAP gateway the planning of
 * its few hot statements was a quarter of PostgreSQL's time (issue 17). They
 * are only safe when every pool connection is its own backend: PGlite behind
 * pglite-socket serves all of them from ONE backend, where two connections
 * preparing one name collide ("prepared statement already exists"). Until the
 * pool's server is known (namedStatementsSafe), and on PGlite, a client drops
 * the name and the statement runs unnamed, as before.
 */
function keepNamesOnlyWhereSafe(pool: MaybeNamedPool, client: pg.PoolClient): void {
  const original = client.query.bind(client) as AnyQuery;
  (client as unknown as { query: AnyQuery }).query = (...args) => {
    const first = args[0] as { name?: string } | undefined;
    if (first && typeof first === "object" && first.name && !pool[NAMED_SAFE]) {
      const { name: _, ...unnamed } = first;
      args[0] = unnamed;
    }
    return original(...args);
  };
}

/** Asks the server what it is; named statements stay off on PGlite (see keepNamesOnlyWhereSafe). */
export async function enableNamedStatements(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ v: string }>("SELECT version() AS v");
  (pool as MaybeNamedPool)[NAMED_SAFE] = !/PGlite/i.test(rows[0]?.v ?? "PGlite");
}

/** Statement text → its name (texts are built by code from a few variants, so this stays small). */
const statementNames = new Map<string, string>();
const MAX_NAMED_TEXTS = 500;

/**
 * A hot statement as a named one: `db.query(named(sql, params))`. Only for
 * texts that do not embed values (everything variable is a $n parameter), so
 * each connection prepares a handful of them once.
 */
export function named(text: string, values: readonly unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (!name) {
    if (statementNames.size >= MAX_NAMED_TEXTS) return { text, values: values as unknown[] };
    name = `ag_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return { name, text, values: values as unknown[] };
}

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
  opts: CommitOptions = {},
): Promise<T> {
  if (!Number.isSafeInteger(mailboxId)) throw new RangeError(`mailbox id ${mailboxId} is not an integer`);
  // The commit's flush policy travels in the BEGIN message: no round trip of its own.
  const async = opts.waitForFlush === false;
  return inTransaction(
    pool,
    async (client) => {
      const results = (await client.query(
        `BEGIN;${async ? " SET LOCAL synchronous_commit TO OFF;" : ""} SELECT highestmodseq FROM mailboxes WHERE id = ${mailboxId} FOR UPDATE`,
      )) as unknown as pg.QueryResult<{ highestmodseq: number }>[];
      return results[async ? 2 : 1]?.rows[0]?.highestmodseq;
    },
    fn,
  );
}

/**
 * A write to one mailbox in ONE round trip and one transaction, with no
 * BEGIN/COMMIT of its own (STORE, EXPUNGE): the mailbox row's lock and the
 * write travel as one simple-protocol message of two statements, which
 * PostgreSQL runs as one implicit transaction (all or nothing, committed when
 * the message ends). The second statement takes a new snapshot after the first
 * got the lock (READ COMMITTED), so it sees every write committed before the
 * lock: `head(sql)` gives it the locked HIGHESTMODSEQ as a SQL expression
 * (`$1` is the mailbox id in `statement`). Where named statements are safe
 * (enableNamedStatements) the lock and the write are two prepared statements
 * in one extended-protocol pipeline with one Sync (LockThenWrite): parsed
 * once per connection, nothing parsed or planned per call; `types` are the
 * write's parameter types. Elsewhere (PGlite, DATABASE_PREPARED_STATEMENTS=0)
 * the two travel as one simple-protocol message with `params` inlined as
 * literals.
 * Returns the HIGHESTMODSEQ under the lock (undefined: no such mailbox, and
 * the write found nothing to do) and the write's rows.
 */
export async function inMailboxLockStatement<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  mailboxId: number,
  statement: (head: string) => string,
  params: readonly unknown[],
  types: readonly string[],
  opts: CommitOptions = {},
): Promise<{ head: number | undefined; rows: R[] }> {
  if (!Number.isSafeInteger(mailboxId)) throw new RangeError(`mailbox id ${mailboxId} is not an integer`);
  if (types.length !== params.length) throw new RangeError("one type per parameter");
  const async = opts.waitForFlush === false;
  const sql = statement("(SELECT highestmodseq FROM mailboxes WHERE id = $1)");
  const lock = `SELECT highestmodseq FROM mailboxes WHERE id = ${mailboxId} FOR UPDATE;\n`;
  const prefix = async ? "SET LOCAL synchronous_commit TO OFF;\n" : "";
  if (!(pool as MaybeNamedPool)[NAMED_SAFE]) {
    const results = (await pool.query(
      `${prefix}${lock}${inlineParams(sql, params)}`,
    )) as unknown as pg.QueryResult[];
    return lockStatementResult<R>(results, async ? 1 : 0);
  }
  const name = named(`${types.join(",")}|${sql}`, []).name;
  if (!name) {
    const results = (await pool.query(
      `${prefix}${lock}${inlineParams(sql, params)}`,
    )) as unknown as pg.QueryResult[];
    return lockStatementResult<R>(results, async ? 1 : 0);
  }
  const client = await pool.connect();
  let broken = false;
  try {
    let known = preparedOn.get(client);
    if (!known) {
      known = new Set();
      preparedOn.set(client, known);
    }
    const lock = { ...(async ? LOCK_ASYNC : LOCK_DURABLE), values: [String(mailboxId)] };
    const write = { name, text: sql, types: types.map(typeOid), values: params.map(bindValue) };
    const results = await new Promise<pg.QueryResult[]>((resolve, reject) => {
      client.query(new LockThenWrite(lock, write, known), (err: Error | undefined, res: unknown) =>
        err ? reject(err) : resolve(res as pg.QueryResult[]),
      );
    });
    known.add(lock.name).add(name);
    return lockStatementResult<R>(results, 0);
  } catch (err) {
    // Whether a Parse stuck is unknown after a failed pipeline: a fresh connection knows.
    broken = true;
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * The lock and the write of inMailboxLockStatement as two prepared statements
 * in ONE extended-protocol pipeline: (Parse) Bind Execute for the lock, (Parse)
 * Bind Execute for the write, then one Sync. Everything before the Sync is one
 * implicit transaction, committed at the Sync (all or nothing); the server
 * reads the write's Bind only once the lock's Execute has the row, so the
 * write's snapshot (READ COMMITTED: one per statement) is taken after the
 * lock, as in the simple-protocol form. Nothing is parsed or planned per call
 * (issue 17: the old message's `SET LOCAL …; SELECT … WHERE id = <literal> FOR
 * UPDATE; EXECUTE …(<literals>)` was three statements parsed, and the SELECT
 * planned, at every STORE and EXPUNGE). The lock statement sets the
 * transaction's settings with set_config(…, true) (SET LOCAL's function form,
 * which also works outside a BEGIN): plan_cache_mode for the write's Bind
 * (its generic plan, see below) and, for a non-durable write,
 * synchronous_commit, read at the commit.
 */
class LockThenWrite extends (pg.Query as unknown as new (text: string) => PgQueryInternals) {
  constructor(
    private readonly lock: PipelinedStatement,
    private readonly write: PipelinedStatement,
    private readonly prepared: ReadonlySet<string>,
  ) {
    // The text is only a label (the bench's statement counter reads it); submit sends the
    // statements. A string, not a config object, which pg's Query would copy property by property.
    super(`/* locked */ ${write.text}`);
  }

  submit(connection: PgConnection): null {
    connection.stream.cork?.();
    try {
      for (const s of [this.lock, this.write]) {
        if (!this.prepared.has(s.name)) connection.parse({ name: s.name, text: s.text, types: s.types });
        connection.bind({ portal: "", statement: s.name, values: s.values });
        connection.describe({ type: "P", name: "" });
        connection.execute({ portal: "", rows: 0 });
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }
}

interface PipelinedStatement {
  name: string;
  text: string;
  types: number[];
  values: (string | null)[];
}

/** What LockThenWrite uses of pg's Query and Connection (pg 8: lib/query.js, lib/connection.js). */
interface PgQueryInternals {
  text: string;
}
interface PgConnection {
  stream: { cork?: () => void; uncork?: () => void };
  parse(m: { name: string; text: string; types: number[] }): void;
  bind(m: { portal: string; statement: string; values: (string | null)[] }): void;
  describe(m: { type: "P"; name: string }): void;
  execute(m: { portal: string; rows: number }): void;
  sync(): void;
}

/**
 * The row lock, with the transaction's settings. plan_cache_mode: these
 * writes look rows up by (mailbox_id, uid) whatever the arguments, and
 * PostgreSQL's default kept re-planning STORE's statement at every call (its
 * custom plans look cheaper than the generic one).
 */
function lockStatement(async: boolean): PipelinedStatement {
  const text = `SELECT highestmodseq, set_config('plan_cache_mode', 'force_generic_plan', true)${
    async ? ", set_config('synchronous_commit', 'off', true)" : ""
  } FROM mailboxes WHERE id = $1 FOR UPDATE`;
  return { name: `ag_lock_${async ? "async" : "durable"}`, text, types: [INT4_OID], values: [] };
}
const INT4_OID = 23;
const LOCK_DURABLE = lockStatement(false);
const LOCK_ASYNC = lockStatement(true);

/** Parameter types of the locked writes, as the OIDs a Parse message takes. */
const TYPE_OIDS: Record<string, number> = {
  boolean: 16,
  bigint: 20,
  smallint: 21,
  integer: INT4_OID,
  text: 25,
  "text[]": 1009,
  "bigint[]": 1016,
  "integer[]": 1007,
};

function typeOid(type: string): number {
  const oid = TYPE_OIDS[type];
  if (oid === undefined) throw new RangeError(`no OID known for type ${type}`);
  return oid;
}

/** A parameter in the text format: what pg's prepareValue gives for ours (numbers, booleans, arrays, strings, dates). */
function bindValue(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean") return value ? "true" : "false";
  return textValue(value);
}

/** The statements each connection has PREPAREd (inMailboxLockStatement). */
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

function lockStatementResult<R extends pg.QueryResultRow>(
  results: pg.QueryResult[],
  first: number,
): { head: number | undefined; rows: R[] } {
  return {
    head: (results[first]?.rows[0] as { highestmodseq?: number } | undefined)?.highestmodseq,
    rows: (results[first + 1]?.rows ?? []) as R[],
  };
}

/**
 * How a write commits. `waitForFlush: false` commits without waiting for the
 * WAL flush (synchronous_commit off for that transaction only): a database
 * crash may lose the last fraction of a second of such writes (up to three
 * wal_writer_delay, 600 ms by default), never corrupt anything, and the
 * write's own ordering and locking are unchanged. For IMAP's flag changes and
 * expunges (IMAP_DURABLE_FLAG_WRITES=0, off by default: a lost commit's MODSEQ is
 * handed out again after the crash), as Dovecot's
 * mail_fsync=optimized does not fsync its index for them; message data always
 * waits. The store's own default stays durable (`waitForFlush` unset).
 */
export interface CommitOptions {
  waitForFlush?: boolean;
}

/**
 * Replaces `$n` in `sql` by params[n-1] as a SQL literal: safe integers and
 * booleans bare, NULL, strings/dates/arrays as escaped string constants (an
 * E'' constant, so the quoting does not depend on standard_conforming_strings),
 * which the statement's casts (`$2::bigint[]`) type as they would a parameter.
 */
export function inlineParams(sql: string, params: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i < 0 || i >= params.length) throw new RangeError(`no parameter $${n}`);
    return sqlLiteral(params[i]);
  });
}

function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return String(value);
  return quoted(textValue(value));
}

function textValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
    return String(value);
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return `{${value.map(arrayElement).join(",")}}`;
  throw new TypeError(`cannot inline a ${typeof value} as SQL`);
}

/** An element of an array constant ('{…}'): NULL, or double-quoted with \ and " escaped. */
function arrayElement(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (Array.isArray(value)) return textValue(value);
  return `"${textValue(value).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function quoted(text: string): string {
  if (text.includes("\u0000")) throw new RangeError("NUL in a SQL string");
  return `E'${text.replace(/[\\']/g, (c) => (c === "'" ? "''" : "\\\\"))}'`;
}
