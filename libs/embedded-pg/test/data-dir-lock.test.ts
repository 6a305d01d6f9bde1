/**
 * One process per PGlite data directory: the lock file refuses a second owner
 * with a message naming the first, takes over a lock whose process is gone or
 * whose pid now belongs to another process, and lets a second process connect
 * to the owner instead (connectOrStartEmbedded).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { acquireDataDirLock, readLock } from "../src/data-dir-lock.ts";
import {
  connectOrStartEmbedded,
  DataDirLockedError,
  lockPathFor,
  startEmbeddedPostgres,
} from "../src/index.ts";

async function scratch(t: import("node:test").TestContext): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), "aerogram-lock-"));
  t.after(() => rm(parent, { recursive: true, force: true }));
  return join(parent, "pg");
}

/** The pid of a process that has exited (the kernel won't hand it out again this soon). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(r.stdout.toString());
}

test("a second opener gets a clear error naming the owner; stop releases the lock", {
  timeout: 120_000,
}, async (t) => {
  const dir = await scratch(t);
  const first = await startEmbeddedPostgres({ dir, port: 0 });
  try {
    const lock = await readLock(dir);
    assert.equal(lock?.pid, process.pid);
    assert.equal(`postgres://postgres@127.0.0.1:${lock?.port}/postgres`, first.url);
    await assert.rejects(startEmbeddedPostgres({ dir, port: 0 }), (err: Error) => {
      assert.ok(err instanceof DataDirLockedError);
      assert.match(
        err.message,
        new RegExp(`in use by process ${process.pid} \\(serving it on 127\\.0\\.0\\.1:\\d+\\)`),
      );
      assert.match(err.message, /only one process may open it/);
      return true;
    });
    // A second user connects to the owner instead of opening the files.
    const shared = await connectOrStartEmbedded({ dir, port: 0 });
    assert.equal(shared.owned, false);
    assert.equal(shared.url, first.url);
  } finally {
    await first.stop();
  }
  assert.equal(await readLock(dir), undefined, "the lock is gone after stop");
  const again = await startEmbeddedPostgres({ dir, port: 0 });
  await again.stop();
});

test("a stale lock (its process is gone, or its pid was reused) is taken over", {
  timeout: 60_000,
}, async (t) => {
  const dir = await scratch(t);
  await writeFile(lockPathFor(dir), JSON.stringify({ pid: deadPid(), startTime: 1, port: 1 }));
  const a = await acquireDataDirLock(dir);
  assert.equal((await readLock(dir))?.pid, process.pid);
  await a.release();

  // Our parent is alive, but a different start time says the pid now names another process.
  await writeFile(lockPathFor(dir), JSON.stringify({ pid: process.ppid, startTime: 1, port: 1 }));
  const b = await acquireDataDirLock(dir);
  assert.equal((await readLock(dir))?.pid, process.pid);
  await b.release();

  // A torn (empty) lock file left by a crash long ago.
  await writeFile(lockPathFor(dir), "");
  const old = new Date(Date.now() - 60_000);
  const { utimes } = await import("node:fs/promises");
  await utimes(lockPathFor(dir), old, old);
  const c = await acquireDataDirLock(dir);
  await c.release();
});

test("the owner's lock names its port once it serves; the database answers there", {
  timeout: 120_000,
}, async (t) => {
  const dir = await scratch(t);
  const owner = await startEmbeddedPostgres({ dir, port: 0 });
  try {
    const lock = JSON.parse(await readFile(lockPathFor(dir), "utf8")) as { port: number };
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${lock.port}/postgres` });
    await client.connect();
    assert.equal((await client.query<{ v: number }>("SELECT 1 AS v")).rows[0]!.v, 1);
    await client.end();
  } finally {
    await owner.stop();
  }
});
