/**
 * The sending half's administration over real HTTP and directly on the store:
 * `mailctl dkim add|list` (the TXT record printed, a duplicate selector
 * refused, no secret → refused) and `mailctl queue`, `queue flush`,
 * `queue delete` on a real queue in Postgres.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createLogger, createRegistry, OpsServer } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, type TestDatabase } from "@aerogram/testkit";
import { createAdminApi, HttpAdmin, runMailctl, StoreAdmin } from "../src/index.ts";

const TOKEN = "test-admin-token-0123456789";
let db: TestDatabase | undefined;
let store: Store;
let server: OpsServer;
let api: HttpAdmin;

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  db = await createTestDatabase();
  store = await Store.open({ url: db.url, poolMax: 4 });
  server = new OpsServer({
    registry: createRegistry("outbound-admin-test"),
    checks: [],
    fallback: createAdminApi({
      ops: new StoreAdmin(store, { dkimSecret: "admin-test-dkim-secret" }),
      token: TOKEN,
      log: createLogger({ level: "silent" }),
    }),
  });
  const { port } = await server.listen(0, "127.0.0.1");
  api = new HttpAdmin(`http://127.0.0.1:${port}`, TOKEN);
});

after(async () => {
  if (!db) return;
  await server.close();
  await store.close();
  await db.drop();
});

test("mailctl dkim add prints the TXT record; list shows it; a taken selector is refused", async () => {
  const added = await runMailctl(api, ["dkim", "add", "example.org", "--selector", "s2026"]);
  assert.equal(added.code, 0, added.output);
  assert.match(
    added.output,
    /^created ed25519 key s2026 for example\.org; publish:\ns2026\._domainkey\.example\.org\. IN TXT \( "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=" \)$/,
  );
  const rsa = await runMailctl(api, ["dkim", "add", "example.org", "--selector", "r1", "--algorithm", "rsa"]);
  assert.equal(rsa.code, 0, rsa.output);
  assert.match(rsa.output, /k=rsa; p=MIIBIjAN/);
  const again = await runMailctl(api, ["dkim", "add", "example.org", "--selector", "s2026"]);
  assert.equal(again.code, 1);
  assert.match(again.output, /already exists/);
  const bad = await runMailctl(api, ["dkim", "add", "example.org", "--algorithm", "dsa"]);
  assert.equal(bad.code, 2);
  const list = await runMailctl(api, ["dkim", "list"]);
  assert.match(list.output, /example\.org {2}s2026 {2}ed25519\n/);
  assert.match(list.output, /example\.org {2}r1 {2}rsa\n/);
  const stored = await store.dkimKeys.list();
  assert.ok(
    stored.every(
      (k) => k.privateKeyEncrypted.startsWith("v1:") && !k.privateKeyEncrypted.includes("PRIVATE"),
    ),
  );
});

test("without a DKIM secret, dkim add is refused (keys are never stored in the clear)", async () => {
  const direct = await runMailctl(new StoreAdmin(store), ["dkim", "add", "example.net"]);
  assert.equal(direct.code, 1);
  assert.match(direct.output, /DKIM_ENCRYPTION_KEY/);
});

test("mailctl queue: list, flush, delete, over the API and directly", async () => {
  assert.equal((await runMailctl(api, ["queue"])).output, "(queue empty)");
  const later = new Date(Date.now() + 3600_000);
  const [id1, id2] = await store.outbound.enqueue({
    blobKey: "0".repeat(64),
    size: 123,
    sender: "a@example.org",
    senderAccountId: null,
    messageId: "<q@example.org>",
    byDomain: new Map([
      ["one.test", ["x@one.test"]],
      ["two.test", ["y@two.test", "z@two.test"]],
    ]),
    expiresAt: new Date(Date.now() + 86_400_000),
  });
  // Not due yet: as after a failed attempt.
  const claimed = await store.outbound.claim({ owner: "w", leaseMs: 60_000, limit: 10, perDomainLimit: 10 });
  for (const e of claimed) await store.outbound.reschedule(e.id, "w", e.recipients, later, "451 4.3.0 later");
  const listed = await runMailctl(api, ["queue"]);
  assert.match(
    listed.output,
    new RegExp(`^${id1}  one\\.test  <a@example\\.org> -> x@one\\.test  123 bytes  attempts 1  next `),
  );
  assert.match(listed.output, /y@two\.test, z@two\.test/);
  assert.match(listed.output, /last error: 451 4\.3\.0 later/);
  assert.equal(
    (await runMailctl(api, ["queue", "--domain", "two.test"])).output.split("\n")[0]!.split("  ")[0],
    String(id2),
  );
  assert.equal((await runMailctl(api, ["queue", "flush", String(id1)])).output, "1 entry due now");
  assert.ok((await store.outbound.get(id1!))!.nextAttemptAt.getTime() <= Date.now());
  assert.equal((await runMailctl(new StoreAdmin(store), ["queue", "flush"])).output, "2 entries due now");
  assert.equal(
    (await runMailctl(api, ["queue", "delete", String(id2)])).output,
    `deleted queue entry ${id2}`,
  );
  const gone = await runMailctl(api, ["queue", "delete", String(id2)]);
  assert.equal(gone.code, 1);
  assert.match(gone.output, /no queue entry/);
  assert.deepEqual(
    (await store.outbound.list()).map((e) => e.id),
    [id1],
  );
});

test("mailctl sender-policy: per account and per domain over the API; effective policy; default clears", async () => {
  assert.match((await runMailctl(api, ["sender-policy"])).output, /no overrides/);
  const { account } = await api.createAccount({ address: "pol@policy.example", password: "pw-123456" });
  const id = (await store.accounts.byAddress(account.address))!.id;
  assert.equal(await store.senderPolicies.effective(id), undefined);
  const dom = await runMailctl(api, ["sender-policy", "domain", "Policy.Example", "domain"]);
  assert.equal(dom.code, 0, dom.output);
  assert.equal(await store.senderPolicies.effective(id), "domain");
  assert.equal((await runMailctl(api, ["sender-policy", "account", account.address, "any"])).code, 0);
  assert.equal(await store.senderPolicies.effective(id), "any", "the account's own row wins");
  assert.equal(
    (await runMailctl(api, ["sender-policy"])).output,
    "account pol@policy.example  any\ndomain policy.example  domain",
  );
  const unknown = await runMailctl(api, ["sender-policy", "account", "ghost@policy.example", "any"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.output, /no account/);
  assert.equal((await runMailctl(api, ["sender-policy", "account", account.address, "everyone"])).code, 2);
  assert.equal((await runMailctl(api, ["sender-policy", "domain", "not a domain", "any"])).code, 1);
  assert.equal((await runMailctl(api, ["sender-policy", "account", account.address, "default"])).code, 0);
  assert.equal(await store.senderPolicies.effective(id), "domain");
  assert.equal(
    (await runMailctl(new StoreAdmin(store), ["sender-policy", "domain", "policy.example", "default"])).code,
    0,
  );
  assert.equal(await store.senderPolicies.effective(id), undefined);
});
