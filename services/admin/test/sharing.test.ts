/**
 * Sharing a mailbox through the admin API (real HTTP on the ops server, real
 * Postgres) and mailctl's share/unshare/acl commands over it and over the store.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createRegistry, OpsServer } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, type TestDatabase, uniqueId } from "@aerogram/testkit";
import { createAdminApi, HttpAdmin, runMailctl, StoreAdmin } from "../src/index.ts";

const TOKEN = "test-admin-token-sharing-0123";

let db: TestDatabase | undefined;
let store: Store;
let server: OpsServer;
let base: string;

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  db = await createTestDatabase();
  store = await Store.open({ url: db.url, poolMax: 4 });
  server = new OpsServer({
    registry: createRegistry("sharing-test"),
    checks: [],
    fallback: createAdminApi({ ops: new StoreAdmin(store), token: TOKEN }),
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

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

test("admin API: share, change, read and remove a mailbox's ACL; bad input", async (t) => {
  if (!db) return t.skip("no postgres");
  const owner = `o${uniqueId()}@example.org`;
  const grantee = `g${uniqueId()}@example.org`;
  await store.accounts.create({ address: owner, password: "pw-owner-1" });
  const g = await store.accounts.create({ address: grantee, password: "pw-grantee-1" });
  const path = `/accounts/${owner}/acl/INBOX`;
  const shared = await call("PUT", `${path}/${grantee}`, { rights: "lrs" });
  assert.equal(shared.status, 200);
  assert.deepEqual(shared.body, {
    owner,
    mailbox: "INBOX",
    entries: [{ identifier: grantee, rights: "lrs" }],
  });
  assert.deepEqual((await call("PUT", `${path}/${grantee}`, { rights: "+w" })).body.entries, [
    { identifier: grantee, rights: "lrsw" },
  ]);
  assert.deepEqual((await call("PUT", `${path}/anyone`, { rights: "l" })).body.entries.length, 2);
  // The grantee now finds it among the mailboxes shared with it.
  const visible = await store.acl.sharedWith(g.id);
  assert.deepEqual(
    visible.map((m) => [m.ownerAddress, m.name, m.rights]),
    [[owner, "INBOX", "lrsw"]],
  );
  assert.equal((await call("PUT", `${path}/${grantee}`, { rights: "lrz" })).status, 400);
  assert.equal((await call("PUT", `${path}/${owner}`, { rights: "l" })).status, 400);
  assert.equal((await call("PUT", `${path}/nobody@example.org`, { rights: "l" })).status, 404);
  assert.equal((await call("PUT", `/accounts/${owner}/acl/Nope/${grantee}`, { rights: "l" })).status, 404);
  assert.equal((await call("GET", `/accounts/nobody@example.org/acl/INBOX`)).status, 404);
  assert.equal((await call("DELETE", `${path}/${grantee}`)).status, 200);
  assert.deepEqual((await call("GET", path)).body.entries, [{ identifier: "anyone", rights: "l" }]);
});

test("mailctl share / unshare / acl, over the API and over the store", async (t) => {
  if (!db) return t.skip("no postgres");
  const owner = `o${uniqueId()}@example.org`;
  const grantee = `g${uniqueId()}@example.org`;
  await store.accounts.create({ address: owner, password: "pw-owner-2" });
  await store.accounts.create({ address: grantee, password: "pw-grantee-2" });
  await store.mailboxes.create((await store.accounts.byAddress(owner))!.id, "Team");
  for (const ops of [new HttpAdmin(base, TOKEN), new StoreAdmin(store)]) {
    const r = await runMailctl(ops, ["share", owner, "Team", grantee, "lrs"]);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output, `${owner} Team\n  ${grantee}  lrs`);
    assert.equal((await runMailctl(ops, ["acl", owner, "Team"])).output, `${owner} Team\n  ${grantee}  lrs`);
    const bad = await runMailctl(ops, ["share", owner, "Team", grantee, "lrq"]);
    assert.equal(bad.code, 1);
    assert.match(bad.output, /unknown right "q"/);
    assert.equal((await runMailctl(ops, ["share", owner, "Team", grantee])).code, 2);
    const removed = await runMailctl(ops, ["unshare", owner, "Team", grantee]);
    assert.equal(removed.output, `${owner} Team\n  (not shared)`);
  }
  assert.match(
    (await runMailctl(new StoreAdmin(store), ["--help"])).output,
    /share <owner> <mailbox> <grantee> <rights>/,
  );
});

test("mailctl shared create / list / delete and sharing a shared folder, over the API and over the store", async (t) => {
  if (!db) return t.skip("no postgres");
  const grantee = `g${uniqueId()}@example.org`;
  const g = await store.accounts.create({ address: grantee, password: "pw-grantee-3" });
  for (const [i, ops] of [new HttpAdmin(base, TOKEN), new StoreAdmin(store)].entries()) {
    const name = `team-${i}-${uniqueId()}`.toLowerCase();
    const created = await runMailctl(ops, ["shared", "create", name, "--quota", "5000"]);
    assert.equal(created.code, 0, created.output);
    assert.equal(created.output, `created Shared/${name}  quota: 5000 bytes  0 messages, 0 bytes`);
    assert.equal((await runMailctl(ops, ["shared", "create", name])).code, 1);
    assert.equal((await runMailctl(ops, ["shared", "create", "Bad Name!"])).code, 1);
    assert.match(
      (await runMailctl(ops, ["shared", "list"])).output,
      new RegExp(`^Shared/${name}  quota: 5000`, "m"),
    );
    const shared = await runMailctl(ops, ["share", `Shared/${name}`, "INBOX", grantee, "lrs"]);
    assert.equal(shared.output, `#shared/${name} INBOX\n  ${grantee}  lrs`);
    assert.ok((await store.acl.sharedWith(g.id)).some((m) => m.ownerAddress === `#shared/${name}`));
    // A shared folder is no one to grant rights to.
    assert.equal(
      (await runMailctl(ops, ["share", `Shared/${name}`, "INBOX", `#shared/${name}`, "l"])).code,
      1,
    );
    assert.equal((await runMailctl(ops, ["shared", "delete", name])).output, `deleted shared folder ${name}`);
    assert.equal((await runMailctl(ops, ["shared", "delete", name])).code, 1);
    assert.ok(!(await store.acl.sharedWith(g.id)).some((m) => m.ownerAddress === `#shared/${name}`));
  }
});

test("mailctl seen / admin API: a mailbox's \\Seen per user (default) or shared, over the API and over the store", async (t) => {
  if (!db) return t.skip("no postgres");
  const owner = `o${uniqueId()}@example.org`;
  const account = await store.accounts.create({ address: owner, password: "pw-owner-4" });
  await store.mailboxes.create(account.id, "Support");
  const mailbox = (await store.mailboxes.byName(account.id, "Support"))!;
  for (const ops of [new HttpAdmin(base, TOKEN), new StoreAdmin(store)]) {
    assert.equal(
      (await runMailctl(ops, ["seen", owner, "Support"])).output,
      `${owner} Support  \\Seen: per-user`,
    );
    const set = await runMailctl(ops, ["seen", owner, "Support", "shared"]);
    assert.equal(set.code, 0, set.output);
    assert.equal(set.output, `${owner} Support  \\Seen: shared`);
    assert.equal(await store.privateSeen.isShared(mailbox.id), true);
    assert.equal(
      (await runMailctl(ops, ["seen", owner, "Support", "per-user"])).output,
      `${owner} Support  \\Seen: per-user`,
    );
    assert.equal(await store.privateSeen.isShared(mailbox.id), false);
    const bad = await runMailctl(ops, ["seen", owner, "Support", "everyone"]);
    assert.equal(bad.code, 2);
    assert.match(bad.output, /per-user or shared/);
    const missing = await runMailctl(ops, ["seen", owner, "Nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.output, /no mailbox Nope/);
  }
  const api = await call("PUT", `/accounts/${owner}/seen/Support`, { seen: "shared" });
  assert.equal(api.status, 200);
  assert.deepEqual(api.body, { owner, mailbox: "Support", seen: "shared" });
  assert.equal((await call("PUT", `/accounts/${owner}/seen/Support`, { seen: "all" })).status, 400);
  assert.equal((await call("GET", `/accounts/${owner}/seen/Nope`)).status, 404);
  assert.match(
    (await runMailctl(new StoreAdmin(store), ["--help"])).output,
    /seen <owner> <mailbox> \[per-user\|shared\]/,
  );
});
