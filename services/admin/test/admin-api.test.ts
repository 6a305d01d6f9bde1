/**
 * The admin API over real HTTP (mounted on the ops server, as main.ts does)
 * against a real Postgres database; and mailctl's command set through it.
 */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { after, before, test } from "node:test";
import { createLogger, createRegistry, OpsServer } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, type TestDatabase } from "@aerogram/testkit";
import { createAdminApi, HttpAdmin, runMailctl, StoreAdmin } from "../src/index.ts";

const TOKEN = "test-admin-token-0123456789";

let db: TestDatabase | undefined;
let store: Store;
let server: OpsServer;
let base: string;
let logged = "";

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  db = await createTestDatabase();
  store = await Store.open({ url: db.url, poolMax: 4 });
  const sink = new PassThrough();
  sink.on("data", (d: Buffer) => {
    logged += d.toString();
  });
  server = new OpsServer({
    registry: createRegistry("admin-test"),
    checks: [{ name: "postgres", probe: () => store.ping() }],
    fallback: createAdminApi({
      ops: new StoreAdmin(store, { health: () => server.runChecks() }),
      token: TOKEN,
      log: createLogger({ level: "info", destination: sink }),
    }),
  });
  const { port } = await server.listen(0, "127.0.0.1");
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  if (!db) return;
  await server.close();
  await store.close();
  await db.drop();
});

async function call(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

test("401 without a token and with a wrong one; the ops endpoints stay open", async (t) => {
  if (!db) return t.skip("no postgres");
  assert.equal((await call("GET", "/accounts", undefined, null)).status, 401);
  assert.equal((await call("GET", "/accounts", undefined, "wrong")).status, 401);
  assert.equal((await call("GET", "/accounts", undefined, `${TOKEN}x`)).status, 401);
  const basic = await fetch(`${base}/api/v1/accounts`, { headers: { authorization: `Basic ${TOKEN}` } });
  assert.equal(basic.status, 401);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/elsewhere`)).status, 404);
});

test("with no token configured every request is refused", async () => {
  const ops = new OpsServer({
    registry: createRegistry("admin-test-off"),
    checks: [],
    fallback: createAdminApi({ ops: new StoreAdmin({} as Store), token: undefined }),
  });
  const { port } = await ops.listen(0, "127.0.0.1");
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/accounts`, {
      headers: { authorization: "Bearer " },
    });
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { error: string }).error, /ADMIN_TOKEN/);
  } finally {
    await ops.close();
  }
});

test("accounts: create, get, list, disable, quota, aliases, password, mailboxes, delete", async (t) => {
  if (!db) return t.skip("no postgres");
  const created = await call("POST", "/accounts", { address: "Alice@Example.org" });
  assert.equal(created.status, 201);
  assert.equal(created.body.account.address, "alice@example.org");
  assert.match(created.body.generatedPassword, /^[\w-]{12}$/);
  assert.ok(await store.accounts.authenticate("alice@example.org", created.body.generatedPassword));

  const withPassword = await call("POST", "/accounts", {
    address: "bob@example.org",
    password: "s3cret-pw!",
    quotaBytes: 1000,
  });
  assert.equal(withPassword.status, 201);
  assert.equal(withPassword.body.generatedPassword, undefined);
  assert.equal(withPassword.body.account.quotaBytes, 1000);
  assert.equal((await call("POST", "/accounts", { address: "BOB@example.org", password: "x" })).status, 409);

  const list = await call("GET", "/accounts");
  assert.deepEqual(
    list.body.accounts.map((a: { address: string }) => a.address),
    ["alice@example.org", "bob@example.org"],
  );
  const alice = await call("GET", "/accounts/alice%40example.org");
  assert.equal(alice.status, 200);
  assert.deepEqual(alice.body.usage, { bytes: 0, messages: 0 });

  // A quota set through the API is what the store (and so SMTP/IMAP) sees.
  const quota = await call("PUT", "/accounts/alice@example.org/quota", { quotaBytes: 5_000_000 });
  assert.equal(quota.status, 200);
  assert.equal((await store.accounts.byAddress("alice@example.org"))?.quotaBytes, 5_000_000);
  await call("PUT", "/accounts/alice@example.org/quota", { quotaBytes: null });
  assert.equal((await store.accounts.byAddress("alice@example.org"))?.quotaBytes, null);

  const disabled = await call("PATCH", "/accounts/alice@example.org", { disabled: true });
  assert.equal(disabled.body.disabled, true);
  assert.equal((await store.accounts.byAddress("alice@example.org"))?.disabled, true);
  await call("PATCH", "/accounts/alice@example.org", { disabled: false, quotaBytes: 42 });
  assert.equal((await store.accounts.byAddress("alice@example.org"))?.quotaBytes, 42);

  const aliased = await call("POST", "/accounts/alice@example.org/aliases", {
    alias: "Postmaster@example.org",
  });
  assert.deepEqual(aliased.body.aliases, ["postmaster@example.org"]);
  assert.equal(
    (await call("POST", "/accounts/bob@example.org/aliases", { alias: "postmaster@example.org" })).status,
    409,
  );
  const unaliased = await call("DELETE", "/accounts/alice@example.org/aliases/postmaster%40example.org");
  assert.deepEqual(unaliased.body.aliases, []);
  assert.equal((await call("DELETE", "/accounts/alice@example.org/aliases/nobody@example.org")).status, 404);

  const pw = await call("PUT", "/accounts/alice@example.org/password", { password: "new-password-1" });
  assert.deepEqual(pw.body, {});
  assert.ok(await store.accounts.authenticate("alice@example.org", "new-password-1"));
  const generated = await call("PUT", "/accounts/alice@example.org/password", {});
  assert.ok(await store.accounts.authenticate("alice@example.org", generated.body.generatedPassword));

  const mailboxes = await call("GET", "/accounts/alice@example.org/mailboxes");
  assert.ok(mailboxes.body.mailboxes.some((m: { name: string }) => m.name === "INBOX"));
  assert.deepEqual(Object.keys(mailboxes.body.mailboxes[0]).sort(), [
    "bytes",
    "messages",
    "name",
    "specialUse",
    "subscribed",
  ]);

  const health = await call("GET", "/health");
  assert.equal(health.body.status, "ready");
  assert.equal(health.body.checks[0].name, "postgres");

  assert.equal((await call("DELETE", "/accounts/bob@example.org")).status, 204);
  assert.equal((await call("GET", "/accounts/bob@example.org")).status, 404);
  assert.equal(await store.accounts.byAddress("bob@example.org"), undefined);

  assert.doesNotMatch(logged, /s3cret-pw!|new-password-1/, "passwords never reach the log");
  assert.doesNotMatch(logged, new RegExp(TOKEN), "nor the token");
  assert.match(logged, /"path":"\/api\/v1\/accounts","status":201/);
});

test("input is validated and bodies are bounded", async (t) => {
  if (!db) return t.skip("no postgres");
  assert.equal((await call("POST", "/accounts", { address: "x@example.org", quotaBytes: -1 })).status, 400);
  assert.equal((await call("POST", "/accounts", { address: "x@example.org", admin: true })).status, 400);
  assert.equal((await call("POST", "/accounts", { address: "not-an-address" })).status, 400);
  assert.equal((await call("POST", "/accounts", "{broken")).status, 400);
  assert.equal((await call("PUT", "/accounts/x@example.org/quota", { quotaBytes: "lots" })).status, 400);
  assert.equal((await call("PATCH", "/accounts/x@example.org", { disabled: "yes" })).status, 400);
  assert.equal((await call("GET", "/accounts/%E0%A4%A")).status, 400);
  assert.equal((await call("PUT", "/accounts")).status, 405);
  assert.equal((await call("GET", "/nothing")).status, 404);
  const huge = await call("POST", "/accounts", { address: "big@example.org", password: "x".repeat(70_000) });
  assert.equal(huge.status, 413);
  assert.equal(await store.accounts.byAddress("big@example.org"), undefined);
});

test("mailctl's command set over the API (AEROGRAM_ADMIN_URL mode)", async (t) => {
  if (!db) return t.skip("no postgres");
  const api = new HttpAdmin(base, TOKEN);
  const run = (...argv: string[]) => runMailctl(api, argv);
  const add = await run("add", "carol@example.org", "--quota", "2048");
  assert.equal(add.code, 0, add.output);
  assert.match(add.output, /^created carol@example\.org {2}password: \S+$/);
  assert.equal((await run("add", "carol@example.org", "--password", "x")).code, 1);
  assert.match((await run("quota", "carol@example.org", "4096")).output, /4096 bytes/);
  assert.equal((await store.accounts.byAddress("carol@example.org"))?.quotaBytes, 4096);
  assert.equal((await run("alias", "carol@example.org", "c@example.org")).code, 0);
  assert.match(
    (await run("show", "carol@example.org")).output,
    /aliases: c@example\.org {2}quota: 4096 bytes/,
  );
  assert.equal((await run("unalias", "carol@example.org", "c@example.org")).code, 0);
  assert.match((await run("disable", "carol@example.org")).output, /carol@example\.org disabled/);
  assert.match((await run("list")).output, /^carol@example\.org {2}\(disabled\)/m);
  assert.match((await run("mailboxes", "carol@example.org")).output, /^INBOX {2}0 messages, 0 bytes$/m);
  assert.match((await run("health")).output, /^ready\nok {3}postgres/);
  assert.match((await run("enable", "carol@example.org")).output, /carol@example\.org enabled/);
  assert.equal((await run("passwd", "carol@example.org", "--password", "pw-2")).code, 0);
  assert.ok(await store.accounts.authenticate("carol@example.org", "pw-2"));
  assert.equal((await run("delete", "carol@example.org")).code, 0);
  assert.equal((await run("show", "carol@example.org")).code, 1);
  assert.equal((await run("quota", "x@example.org", "lots")).code, 2);

  const wrong = runMailctl(new HttpAdmin(base, "nope"), ["list"]);
  await assert.rejects(wrong, /HTTP 401/);
});

test("mailctl's command set directly on the store gives the same answers", async (t) => {
  if (!db) return t.skip("no postgres");
  const direct = new StoreAdmin(store, { generatePassword: () => "generated-pw" });
  const add = await runMailctl(direct, ["add", "dave@example.org"]);
  assert.equal(add.output, "created dave@example.org  password: generated-pw");
  const viaApi = await runMailctl(new HttpAdmin(base, TOKEN), ["show", "dave@example.org"]);
  assert.equal((await runMailctl(direct, ["show", "dave@example.org"])).output, viaApi.output);
});
