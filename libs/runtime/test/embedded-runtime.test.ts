/**
 * createRuntime on the embedded database, started from a test the way the
 * protocol suites and benches do (temporary DATA_DIR, EMBEDDED_PG_PORT=0):
 * two runtimes in one process each get their own database, concurrent store
 * work through the runtime's pool gives the answers the store promises, and
 * close() releases the data directory for the next opener.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "@aerogram/config";
import { lockPathFor } from "@aerogram/embedded-pg";
import { createRuntime } from "../src/index.ts";

test("two embedded runtimes in one test process, concurrent deliveries, reopen after close", {
  // Three PGlite starts; each takes tens of seconds on a loaded 2-core machine.
  timeout: 400_000,
}, async (t) => {
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), "aerogram-runtime-"))));
  t.after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const configFor = (dataDir: string) =>
    loadConfig({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: "0", LOG_LEVEL: "silent", DATABASE_POOL_MAX: "6" });
  const runtimes = await Promise.all(dirs.map((d) => createRuntime(configFor(d), { service: "test" })));
  try {
    assert.notEqual(runtimes[0]!.embeddedPostgres!.url, runtimes[1]!.embeddedPostgres!.url);
    const [a, b] = runtimes as [(typeof runtimes)[0], (typeof runtimes)[0]];
    const alice = await a.store.accounts.create({ address: "alice@example.org", password: "pw-alice" });
    assert.equal(await b.store.accounts.byAddress("alice@example.org"), undefined, "separate databases");
    const inbox = (await a.store.mailboxes.list(alice.id)).find((m) => m.name === "INBOX")!;
    // 30 concurrent single-message deliveries through the pool: 30 distinct, dense UIDs.
    const appended = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        a.store.messages.append([
          {
            mailboxId: inbox.id,
            messages: [{ blobKey: `k${i}`, size: 100 + i }],
          },
        ]),
      ),
    );
    const uids = appended.map((r) => r[0]!.uids[0]!).sort((x, y) => x - y);
    assert.deepEqual(
      uids,
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    assert.deepEqual(await a.store.accounts.usage(alice.id), {
      messages: 30,
      bytes: Array.from({ length: 30 }, (_, i) => 100 + i).reduce((s, n) => s + n, 0),
    });
  } finally {
    await Promise.all(runtimes.map((r) => r.close()));
  }
  // close() gave the data directory back: it can be opened again.
  const again = await createRuntime(configFor(dirs[0]!), { service: "test" });
  try {
    assert.ok(await again.store.accounts.byAddress("alice@example.org"));
  } finally {
    await again.close();
  }
  assert.ok(lockPathFor(join(dirs[0]!, "pg")).endsWith("pg.lock"));
});
