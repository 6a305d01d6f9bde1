/**
 * The processes as the Helm chart runs them, against a real Postgres:
 * `main.ts --migrate-only` (the migration Job) and an admin-only process
 * (AEROGRAM_SERVICES=admin) whose admin API mailctl uses via AEROGRAM_ADMIN_URL.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cleanEnv,
  createTestDatabase,
  requireServer,
  runTsProcess,
  startTsProcess,
  tempDir,
} from "@aerogram/testkit";
import pg from "pg";

const MAIN = "services/aerogram/src/main.ts";
const MAILCTL = "services/admin/src/mailctl.ts";
const TOKEN = "process-test-token";

test("--migrate-only migrates and exits; an admin-only process serves the API to mailctl", {
  timeout: 120_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  // Empty: --migrate-only must create the schema itself.
  const db = await createTestDatabase({ empty: true });
  const dir = await tempDir("aerogram-admin-process-");
  const env = cleanEnv({ DATABASE_URL: db.url, DATA_DIR: dir.path, HTTP_PORT: "0", DEMO_ACCOUNT: "false" });
  try {
    const migrate = await runTsProcess(MAIN, ["--migrate-only"], env);
    assert.equal(migrate.code, 0, migrate.stderr);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT to_regclass('public.accounts') IS NOT NULL AS migrated");
      assert.equal(rows[0].migrated, true);
    } finally {
      await client.end();
    }

    const server = startTsProcess(MAIN, [], { ...env, AEROGRAM_SERVICES: "admin", ADMIN_TOKEN: TOKEN });
    try {
      const [, port] = await server.waitFor(/HTTP\s+http:\/\/127\.0\.0\.1:(\d+)\//, 60_000);
      const url = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${url}/api/v1/accounts`)).status, 401);
      assert.equal((await fetch(`${url}/readyz`)).status, 200);

      // mailctl over the API: no DATABASE_URL in its environment at all.
      const apiEnv = cleanEnv({ AEROGRAM_ADMIN_URL: url, ADMIN_TOKEN: TOKEN, DATA_DIR: dir.path });
      const add = await runTsProcess(MAILCTL, ["add", "ops@example.org", "--quota", "1048576"], apiEnv);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /^created ops@example\.org {2}password: \S+/);
      const list = await runTsProcess(MAILCTL, ["list"], apiEnv);
      assert.match(list.stdout, /^ops@example\.org {2}quota: 1048576 bytes {2}0 messages, 0 bytes$/m);
      const health = await runTsProcess(MAILCTL, ["health"], apiEnv);
      assert.equal(health.code, 0, health.stderr);
      assert.match(health.stdout, /^ready$/m);

      const wrong = await runTsProcess(MAILCTL, ["list"], { ...apiEnv, ADMIN_TOKEN: "wrong" });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /HTTP 401/);
      assert.doesNotMatch(server.stdout() + server.stderr(), new RegExp(TOKEN));
    } finally {
      assert.equal(await server.stop("SIGTERM"), 0);
    }
  } finally {
    await db.drop();
    await dir.remove();
  }
});
