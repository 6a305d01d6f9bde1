/**
 * The newcomer's path: `npm start` with no environment (embedded PGlite, files
 * under DATA_DIR, in-process bus and limiter) serves /healthz and /readyz, prints
 * a demo account, and mailctl adds accounts to its embedded store — while it
 * runs (through its socket) and while it doesn't (opening the files itself).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cleanEnv, runTsProcess, startTsProcess, tempDir } from "@aerogram/testkit";

const MAIN = "services/aerogram/src/main.ts";
const MAILCTL = "services/admin/src/mailctl.ts";

let dir: { path: string; remove(): Promise<void> };
let env: NodeJS.ProcessEnv;
before(async () => {
  dir = await tempDir("aerogram-start-");
  env = cleanEnv({ DATA_DIR: dir.path, HTTP_PORT: "0", EMBEDDED_PG_PORT: "0" });
});
after(() => dir.remove());

test("npm start on the embedded default, then mailctl against it", { timeout: 120_000 }, async () => {
  const server = startTsProcess(MAIN, [], env);
  try {
    const [, port] = await server.waitFor(/HTTP\s+http:\/\/127\.0\.0\.1:(\d+)\//, 60_000);
    const [, demoPassword] = await server.waitFor(/Demo account: demo@example\.com\s+password: (\S+)/);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    const readyBody = (await ready.json()) as { checks: { name: string; ok: boolean }[] };
    assert.equal(ready.status, 200, JSON.stringify(readyBody));
    assert.deepEqual(readyBody.checks.map((c) => c.name).sort(), [
      "blobstore",
      "events",
      "limits",
      "postgres",
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /aerogram_process_resident_memory_bytes/);

    // mailctl while the server runs: it connects to the server's embedded Postgres.
    const add = await runTsProcess(MAILCTL, ["add", "newcomer@example.org", "--password", "hunter2!"], env);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /created newcomer@example\.org/);
    const dup = await runTsProcess(MAILCTL, ["add", "NEWCOMER@example.org", "--password", "x"], env);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already taken/);
    const list = await runTsProcess(MAILCTL, ["list"], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^demo@example\.com/m);
    assert.match(list.stdout, /^newcomer@example\.org/m);

    assert.equal(await server.stop("SIGTERM"), 0, "clean exit on SIGTERM");

    // mailctl with nothing running opens the data directory itself.
    const alone = await runTsProcess(MAILCTL, ["add", "offline@example.org"], env);
    assert.equal(alone.code, 0, alone.stderr);
    assert.match(alone.stdout, /created offline@example\.org\s+password: \S+/);

    // A second start keeps the data and prints the same demo password.
    const again = startTsProcess(MAIN, [], env);
    try {
      const [, password2] = await again.waitFor(/Demo account: demo@example\.com\s+password: (\S+)/, 60_000);
      assert.equal(password2, demoPassword);
      const list2 = await runTsProcess(MAILCTL, ["list"], env);
      assert.match(list2.stdout, /^offline@example\.org/m);
      assert.match(list2.stdout, /^newcomer@example\.org/m);
    } finally {
      assert.equal(await again.stop("SIGTERM"), 0);
    }
  } finally {
    await server.stop("SIGKILL");
  }
});

test("a wrong variable stops the start with a message naming it", { timeout: 60_000 }, async () => {
  const r = await runTsProcess(MAIN, [], { ...env, IMAP_PORT: "imap" });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /IMAP_PORT: .*port/);
});
