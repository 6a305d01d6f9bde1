/**
 * Serves one PGlite backend to many `pg` connections so that each connection
 * gets the answers it would get from its own backend on a real server.
 *
 * PGlite is one Postgres backend (single-user mode): there is exactly one
 * session, one transaction at a time, one set of prepared statements. The
 * stock adapter (@electric-sql/pglite-socket) forwards every message of every
 * connection into that one session as it arrives, so connections see each
 * other's prepared statements (42P05 on the second "pop3-login-credentials"),
 * one connection's Parse/Bind can land between another's, and statements of
 * one connection run inside another's transaction. Mail got refused with 550.
 *
 * Here a connection owns the backend from its first message until a point
 * where a real backend would hold nothing of it: after a Sync or a simple
 * Query that leaves the backend outside a transaction block, holding no
 * session-level advisory lock. Only then may the next connection run. The
 * effect is that transactions of different connections run one after the
 * other (serially: every history is one a real server could produce), each
 * extended-protocol batch runs whole, and a statement never runs inside
 * another connection's transaction. Named prepared statements and portals get
 * a per-connection prefix, so two connections can prepare the same name.
 *
 * What a single backend cannot do is run B while A's transaction is open and A
 * waits for B: on a real server that is fine, here B would wait for A forever.
 * The same holds for a session advisory lock held while its holder waits for
 * another connection (a real server would answer that one's
 * pg_try_advisory_lock with false at once). No Aerogram code does either (a
 * transaction issues its statements on its own client; the migration lock's
 * holder talks to no one else), and the watchdog turns the case into an error
 * instead of a hang: when the owner has kept the backend idle for
 * `idleOwnerMs` while another connection waits, the waiter is failed with
 * 40P01 (deadlock detected) and a log line names both.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { PGlite } from "@electric-sql/pglite";
import {
  closeStatementMessage,
  errorResponse,
  type FrontendMessage,
  hasDataRow,
  MessageReader,
  mayTakeSessionLock,
  queryMessage,
  readyStatus,
  rewriteNames,
  syncMessage,
} from "./wire.ts";

export interface SessionServerOptions {
  db: PGlite;
  host: string;
  port: number;
  maxConnections?: number;
  /** How long an owner may sit idle in a transaction while others wait before a waiter is failed (see above). */
  idleOwnerMs?: number;
  /** Receives the watchdog's and connection errors' messages. */
  warn?: (message: string) => void;
}

type Job =
  | { kind: "startup"; bytes: Uint8Array }
  | { kind: "message"; bytes: Buffer; type: string }
  /** After the socket closed: give back whatever the connection still holds in the backend. */
  | { kind: "cleanup" };

class Connection {
  readonly prefix: string;
  readonly jobs: Job[] = [];
  /** Backend names of the prepared statements this connection created and has not closed. */
  readonly statements = new Set<string>();
  /** It called a session-level advisory lock function and may still hold a lock. */
  mayHoldSessionLocks = false;
  /** When it started waiting for the backend (undefined while it owns it or has nothing queued). */
  waitingSince: number | undefined;
  closed = false;
  readonly reader = new MessageReader();
  private out: Buffer[] = [];

  constructor(
    readonly id: number,
    readonly socket: Socket,
  ) {
    this.prefix = `c${id}_`;
  }

  collect(chunk: Uint8Array): void {
    // PGlite hands out a view of its memory: copy before the next call reuses it.
    if (!this.closed) this.out.push(Buffer.from(chunk));
  }

  flush(): void {
    if (this.out.length === 0) return;
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    if (!this.closed && this.socket.writable) this.socket.write(data);
  }
}

export class SessionServer {
  private readonly db: PGlite;
  private readonly opts: Required<Omit<SessionServerOptions, "db">>;
  private server: Server | undefined;
  private readonly connections = new Set<Connection>();
  private nextId = 1;
  /** The connection that owns the backend now. */
  private owner: Connection | undefined;
  /** When the owner's last job finished (for the watchdog). */
  private ownerIdleSince = 0;
  /** Connections with queued jobs, waiting for the backend, oldest first. */
  private readonly waiting: Connection[] = [];
  private running = false;
  private watchdog: NodeJS.Timeout | undefined;
  /** After stop(): the database is about to close, nothing more runs on it. */
  private stopped = false;

  constructor(opts: SessionServerOptions) {
    this.db = opts.db;
    this.opts = {
      host: opts.host,
      port: opts.port,
      maxConnections: opts.maxConnections ?? 100,
      idleOwnerMs: opts.idleOwnerMs ?? 10_000,
      warn: opts.warn ?? ((m) => console.warn(`embedded-pg: ${m}`)),
    };
  }

  /** Listens; resolves with the port (useful with port 0). */
  async start(): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.watchdog = setInterval(() => this.checkStalls(), Math.min(1000, this.opts.idleOwnerMs)).unref();
    const address = server.address();
    if (!address || typeof address !== "object") throw new Error("embedded-pg: no listening address");
    return address.port;
  }

  async stop(): Promise<void> {
    clearInterval(this.watchdog);
    this.stopped = true;
    for (const c of this.connections) c.socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    // Let a job in progress finish before the caller closes the database.
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.opts.maxConnections) {
      socket.end(errorResponse("53300", "sorry, too many clients already"));
      return;
    }
    socket.setNoDelay(true);
    const c = new Connection(this.nextId++, socket);
    this.connections.add(c);
    socket.on("data", (chunk: Buffer) => {
      let messages: FrontendMessage[];
      try {
        messages = c.reader.push(chunk);
      } catch (err) {
        this.opts.warn(`connection ${c.id}: ${(err as Error).message}`);
        socket.destroy();
        return;
      }
      for (const m of messages) this.receive(c, m);
    });
    socket.on("error", () => {}); // a reset client; 'close' follows and cleans up
    socket.on("close", () => this.closed(c));
  }

  private receive(c: Connection, m: FrontendMessage): void {
    if (c.closed) return;
    switch (m.kind) {
      case "ssl-request":
        c.socket.write("N"); // no TLS on loopback; the client continues in plain text
        return;
      case "cancel":
        c.socket.destroy(); // a single backend can't interrupt a running statement
        return;
      case "startup":
        this.enqueue(c, { kind: "startup", bytes: m.bytes });
        return;
      case "typed": {
        if (m.type === "X") {
          c.socket.end(); // Terminate: never forwarded, it would end the shared backend
          return;
        }
        const r = rewriteNames(m.bytes, c.prefix);
        if (r.parsed) c.statements.add(r.parsed);
        if (r.closedStatement) c.statements.delete(r.closedStatement);
        if (r.sql && mayTakeSessionLock(r.sql)) c.mayHoldSessionLocks = true;
        this.enqueue(c, { kind: "message", bytes: r.bytes, type: m.type });
      }
    }
  }

  private closed(c: Connection): void {
    if (c.closed) return;
    c.closed = true;
    this.connections.delete(c);
    c.jobs.length = 0;
    this.enqueue(c, { kind: "cleanup" });
  }

  private enqueue(c: Connection, job: Job): void {
    if (this.stopped) return;
    c.jobs.push(job);
    if (c !== this.owner) {
      if (!this.waiting.includes(c)) this.waiting.push(c);
      c.waitingSince ??= Date.now();
    }
    void this.run();
  }

  /** Runs queued jobs, one owner at a time, until nothing can run. */
  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      let sinceYield = 0;
      while (!this.stopped) {
        let c = this.owner;
        if (c) {
          if (c.jobs.length === 0) break; // the owner is busy elsewhere; it keeps the backend
        } else {
          c = this.waiting.shift();
          if (!c) break;
          this.owner = c;
          c.waitingSince = undefined;
        }
        const job = c.jobs.shift()!;
        const release = await this.execute(c, job);
        this.ownerIdleSince = Date.now();
        if (release) {
          c.flush();
          this.owner = undefined;
          if (c.jobs.length > 0) {
            this.waiting.push(c);
            c.waitingSince = Date.now();
          }
        } else if (c.jobs.length === 0) {
          c.flush();
        }
        // PGlite runs synchronously: give sockets and the services' timers a turn now and then.
        if (++sinceYield >= 32) {
          sinceYield = 0;
          await new Promise((r) => setImmediate(r));
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Runs one job; returns whether the connection gives the backend up after it. */
  private async execute(c: Connection, job: Job): Promise<boolean> {
    if (job.kind === "cleanup") {
      await this.cleanup(c);
      return true;
    }
    // The reply's last bytes: a turn ends only on ReadyForQuery (not, e.g., on CopyInResponse).
    let tail = Buffer.alloc(0);
    try {
      await this.db.execProtocolRawStream(job.bytes, {
        onRawData: (d) => {
          c.collect(d);
          tail = Buffer.concat([tail, Buffer.from(d.subarray(Math.max(0, d.length - 6)))]).subarray(-6);
        },
      });
    } catch (err) {
      // PGlite throws only when the backend itself failed; the connection can't go on.
      this.opts.warn(`connection ${c.id}: ${(err as Error).message}`);
      c.collect(errorResponse("XX000", `embedded database: ${(err as Error).message}`));
      c.flush();
      c.socket.destroy();
      return false; // the close handler's cleanup job releases the backend
    }
    if (job.kind === "startup") return true;
    if (job.type !== "S" && job.type !== "Q") return false; // mid-batch: the batch runs whole
    if (readyStatus(tail) !== "I" || this.db.isInTransaction()) return false;
    if (c.mayHoldSessionLocks) {
      if (await this.holdsAdvisoryLocks()) return false;
      c.mayHoldSessionLocks = false;
    }
    return true;
  }

  /**
   * The owner is outside a transaction here, so transaction-level advisory
   * locks are gone, and nobody else held the backend with a session lock (it
   * would not have been handed over): any advisory lock left is the owner's.
   */
  private async holdsAdvisoryLocks(): Promise<boolean> {
    return hasDataRow(
      await this.internal(queryMessage("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'")),
    );
  }

  /** Gives back a closed connection's state, as a real backend's exit would. */
  private async cleanup(c: Connection): Promise<void> {
    try {
      await this.internal(syncMessage()); // ends a batch cut off mid-way
      if (this.db.isInTransaction()) await this.internal(queryMessage("ROLLBACK"));
      if (c.mayHoldSessionLocks) await this.internal(queryMessage("SELECT pg_advisory_unlock_all()"));
      if (c.statements.size > 0) {
        for (const name of c.statements) await this.internal(closeStatementMessage(name));
        await this.internal(syncMessage());
      }
    } catch (err) {
      this.opts.warn(`cleanup of connection ${c.id}: ${(err as Error).message}`);
    }
  }

  private async internal(message: Buffer): Promise<Buffer> {
    const out: Buffer[] = [];
    await this.db.execProtocolRawStream(message, { onRawData: (d) => out.push(Buffer.from(d)) });
    return Buffer.concat(out);
  }

  /** The watchdog: see the module comment. */
  private checkStalls(): void {
    const owner = this.owner;
    const first = this.waiting[0];
    if (!owner || owner.jobs.length > 0 || this.running || !first || first.waitingSince === undefined) return;
    const now = Date.now();
    const limit = this.opts.idleOwnerMs;
    if (now - this.ownerIdleSince < limit || now - first.waitingSince < limit) return;
    this.opts.warn(
      `connection ${owner.id} has held the backend idle for ${now - this.ownerIdleSince} ms (in a transaction ` +
        `or holding a session advisory lock) while connection ${first.id} waits; with the embedded database ` +
        "one connection at a time runs, so code that waits for a second connection while it holds a transaction " +
        "or session lock deadlocks. Failing the waiter with 40P01.",
    );
    first.socket.end(
      errorResponse(
        "40P01",
        `deadlock detected: the embedded database's only backend is held by connection ${owner.id}, ` +
          `idle in a transaction or holding a session advisory lock for ${limit} ms`,
      ),
    );
    this.closed(first);
  }
}
