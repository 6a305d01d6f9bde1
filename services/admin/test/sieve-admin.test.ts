/**
 * `mailctl sieve put|get|activate|list` and `mailctl spam` through the admin
 * API over real HTTP (HttpAdmin → admin API → StoreAdmin → Postgres), and
 * directly on the store: a script that doesn't compile is refused with its
 * line, the stored compiled form is what delivery runs.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createLogger, createRegistry, OpsServer } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, type TestDatabase, tempDir } from "@aerogram/testkit";
import { createAdminApi, HttpAdmin, runMailctl, StoreAdmin } from "../src/index.ts";

const TOKEN = "test-admin-token-0123456789";
let db: TestDatabase | undefined;
let store: Store;
let server: OpsServer;
let api: HttpAdmin;
let dir: { path: string; remove(): Promise<void> };

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  db = await createTestDatabase();
  store = await Store.open({ url: db.url, poolMax: 4 });
  dir = await tempDir("aerogram-sieve-admin-");
  server = new OpsServer({
    registry: createRegistry("sieve-admin-test"),
    checks: [],
    fallback: createAdminApi({
      ops: new StoreAdmin(store),
      token: TOKEN,
      log: createLogger({ level: "silent" }),
    }),
  });
  const { port } = await server.listen(0, "127.0.0.1");
  api = new HttpAdmin(`http://127.0.0.1:${port}`, TOKEN);
  await store.accounts.create({ address: "alice@example.com", password: "pw" });
});

after(async () => {
  if (!db) return;
  await server.close();
  await store.close();
  await db.drop();
  await dir.remove();
});

for (const via of ["api", "store"] as const) {
  test(`mailctl sieve put, list, get, activate (${via})`, async (t) => {
    if (!db) return t.skip("no postgres");
    const ops = via === "api" ? api : new StoreAdmin(store);
    const file = join(dir.path, `vacation-${via}.sieve`);
    writeFileSync(file, 'require "vacation";\nvacation :days 3 "Away.";\n');
    const put = await runMailctl(ops, ["sieve", "put", "alice@example.com", file, "--activate"]);
    assert.equal(put.code, 0, put.output);
    assert.equal(put.output, `stored script vacation-${via} for alice@example.com (active)`);
    const list = await runMailctl(ops, ["sieve", "list", "alice@example.com"]);
    assert.match(list.output, new RegExp(`^vacation-${via} {2}\\(active\\) {2}\\d+ bytes$`, "m"));
    const get = await runMailctl(ops, ["sieve", "get", "alice@example.com"]);
    assert.equal(get.output, 'require "vacation";\nvacation :days 3 "Away.";');
    const bad = join(dir.path, "bad.sieve");
    writeFileSync(bad, "keep;\n\nfrobnicate;\n");
    const refused = await runMailctl(ops, ["sieve", "put", "alice@example.com", bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.output, /line 3: unknown command frobnicate/);
    const off = await runMailctl(ops, ["sieve", "activate", "alice@example.com", ""]);
    assert.equal(off.code, 0, off.output);
    const account = (await store.accounts.byAddress("alice@example.com"))!;
    assert.equal(await store.sieve.active(account.id), undefined);
    const on = await runMailctl(ops, ["sieve", "activate", "alice@example.com", `vacation-${via}`]);
    assert.equal(on.code, 0, on.output);
    assert.equal((await store.sieve.active(account.id))?.name, `vacation-${via}`);
    const missing = await runMailctl(ops, ["sieve", "activate", "alice@example.com", "nope"]);
    assert.equal(missing.code, 1);
    const spam = await runMailctl(ops, ["spam", "alice@example.com", "inbox"]);
    assert.equal(spam.code, 0, spam.output);
    assert.equal(await store.filtering.spamToInbox(account.id), true);
    await runMailctl(ops, ["spam", "alice@example.com", "junk"]);
    assert.equal(await store.filtering.spamToInbox(account.id), false);
    // "domain" drops the account's choice: its domain's spam_action applies again.
    await store.domains.update("example.com", { spamAction: "reject" });
    assert.equal(await store.filtering.spamAction(account.id), "junk");
    assert.equal((await runMailctl(ops, ["spam", "alice@example.com", "domain"])).code, 0);
    assert.equal(await store.filtering.spamAction(account.id), "reject");
    await store.domains.update("example.com", { spamAction: null });
    assert.equal((await runMailctl(ops, ["sieve", "put", "alice@example.com"])).code, 2);
  });
}
