/**
 * One process at a time may open a PGlite data directory: two would each run
 * a Postgres backend on the same files with no shared buffers or locks, and
 * corrupt them. PGlite itself doesn't check, so the owner takes this lock
 * before opening the files: `<dir>.lock` next to the directory, created with
 * O_EXCL (the kernel lets exactly one create succeed), holding the owner's pid,
 * its start time and, once it listens, its port (other processes connect there
 * instead of opening the files: mailctl).
 *
 * A lock whose process is gone (killed, crashed) is stale and taken over. A pid
 * the kernel has reused for an unrelated process is told apart by the process
 * start time (Linux /proc/<pid>/stat; elsewhere only liveness is checked).
 * Takeover itself is serialised by a second O_EXCL file so two processes that
 * both find the same stale lock can't both win.
 */
import { readFileSync, rmSync } from "node:fs";
import { open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";

export interface LockOwner {
  pid: number;
  /** Process start time (clock ticks since boot, /proc/<pid>/stat field 22); null where unknown. */
  startTime: number | null;
  /** The loopback port it serves the database on; null while it is still starting. */
  port: number | null;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `the embedded database ${dir} is in use by process ${owner.pid}` +
        (owner.port ? ` (serving it on 127.0.0.1:${owner.port})` : "") +
        "; only one process may open it. Stop that process (e.g. the other `npm start`), " +
        "or give this one its own DATA_DIR, or set DATABASE_URL.",
    );
    this.name = "DataDirLockedError";
  }
}

export const lockPathFor = (dir: string): string => `${dir.replace(/\/+$/, "")}.lock`;

function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2 (comm) is in parentheses and may contain spaces: count from its end.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19]); // field 22 overall
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the process that wrote this lock still runs (and is the same process, not a reused pid). */
export function ownerAlive(owner: LockOwner): boolean {
  if (!isAlive(owner.pid)) return false;
  if (owner.startTime === null) return true;
  const now = processStartTime(owner.pid);
  return now === null || now === owner.startTime;
}

/** The lock's current owner, or undefined when there is no lock (or it is unreadable mid-write). */
export async function readLock(dir: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(lockPathFor(dir), "utf8")) as LockOwner;
  } catch {
    return undefined;
  }
}

export interface DataDirLock {
  /** Records the port this process serves on, for other processes to connect to. */
  setPort(port: number): Promise<void>;
  release(): Promise<void>;
}

/** How old a takeover marker must be to be a crashed takeover's leftover (a takeover takes milliseconds). */
const TAKEOVER_STALE_MS = 10_000;

/** Takes the data directory's lock or throws DataDirLockedError naming the live owner. */
export async function acquireDataDirLock(dir: string): Promise<DataDirLock> {
  const path = lockPathFor(dir);
  const me: LockOwner = { pid: process.pid, startTime: processStartTime(process.pid), port: null };
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(JSON.stringify(me));
      await handle.close();
      return held(path, me);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = await readLock(dir);
    if (owner && ownerAlive(owner)) throw new DataDirLockedError(dir, owner);
    if (!owner) {
      // Just created and not yet written by its owner, or garbage: give a live writer a moment.
      const age = Date.now() - (await stat(path).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age < 2000) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
    }
    await takeOverStale(path, owner);
  }
  throw new Error(`could not take the lock ${path}`);
}

async function takeOverStale(path: string, seen: LockOwner | undefined): Promise<void> {
  const marker = `${path}.takeover`;
  try {
    const h = await open(marker, "wx");
    await h.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const age = Date.now() - (await stat(marker).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if (age > TAKEOVER_STALE_MS) await rm(marker, { force: true });
    await new Promise((r) => setTimeout(r, 50));
    return; // someone else is taking it over: try again from the start
  }
  try {
    // Remove only the lock we judged stale: it may have changed hands meanwhile.
    const now = await readFile(path, "utf8").catch(() => undefined);
    const same =
      now === undefined || seen === undefined || JSON.stringify(JSON.parse(now)) === JSON.stringify(seen);
    if (same) await rm(path, { force: true });
  } catch {
    await rm(path, { force: true }); // unparseable: a torn write of a dead process
  } finally {
    await rm(marker, { force: true });
  }
}

function held(path: string, me: LockOwner): DataDirLock {
  let released = false;
  // A process that exits without stopping (process.exit after an error) leaves no lock behind.
  const onExit = () => {
    if (released) return;
    try {
      if ((JSON.parse(readFileSync(path, "utf8")) as LockOwner).pid === process.pid)
        rmSync(path, { force: true });
    } catch {}
  };
  process.once("exit", onExit);
  return {
    async setPort(port) {
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify({ ...me, port } satisfies LockOwner));
      await rename(tmp, path); // atomic: readers see the old or the new content, never a torn one
    },
    async release() {
      if (released) return;
      released = true;
      process.off("exit", onExit);
      const owner = await readFile(path, "utf8").catch(() => undefined);
      if (owner && (JSON.parse(owner) as LockOwner).pid === process.pid) await rm(path, { force: true });
    },
  };
}
