/**
 * Domains and recipient resolution (issue 23) on real PostgreSQL and on the
 * embedded PGlite: sub-addressing, catch-all, alias domains, forwards, and
 * the domain admin operations' refusals.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "@aerogram/embedded-pg";
import { createTestDatabase, type TestDatabase, tempDir } from "@aerogram/testkit";
import {
  DomainExistsError,
  DomainInUseError,
  DomainNotFoundError,
  InvalidDomainError,
  Store,
  splitDetail,
} from "../src/index.ts";

function domainContract(name: string, open: () => Promise<{ store: Store; cleanup(): Promise<void> }>) {
  describe(name, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(async () => {
      await store?.close();
      await cleanup?.();
    });

    test("domain add/list/update/delete and their refusals", async () => {
      const d = await store.domains.add("Example.ORG", { defaultQuotaBytes: 1000, spamAction: "junk" });
      assert.equal(d.name, "example.org");
      assert.equal(d.defaultQuotaBytes, 1000);
      assert.equal(d.spamAction, "junk");
      await assert.rejects(store.domains.add("example.org"), DomainExistsError);
      await assert.rejects(store.domains.add("not a domain"), InvalidDomainError);
      await assert.rejects(
        store.domains.add("alias.example", { aliasOf: "nowhere.example" }),
        DomainNotFoundError,
      );
      await store.accounts.create({ address: "bob@example.org", password: "pw" });
      const listed = await store.domains.list();
      assert.deepEqual(
        listed.map((x) => [x.name, x.accounts]),
        [["example.org", 1]],
      );
      await assert.rejects(store.domains.delete("example.org"), DomainInUseError);
      await assert.rejects(store.domains.delete("missing.example"), DomainNotFoundError);
      const updated = await store.domains.update("example.org", {
        catchAll: "Bob@example.org",
        spamAction: null,
      });
      assert.equal(updated.catchAll, "bob@example.org");
      assert.equal(updated.spamAction, null);
      await store.domains.add("empty.example");
      await store.domains.delete("empty.example");
      assert.equal(await store.domains.get("empty.example"), undefined);
    });

    test("recipient: address, alias, sub-address with its detail, catch-all, alias domain, forward", async () => {
      const alice = await store.accounts.create({ address: "alice@mail.example", password: "pw" });
      await store.accounts.addAlias(alice.id, "sales@mail.example");

      const exact = await store.accounts.recipient("ALICE@mail.example");
      assert.equal(exact.account?.id, alice.id);
      assert.equal(exact.via, "address");
      assert.equal(exact.detail, undefined);

      const sub = await store.accounts.recipient("alice+news@mail.example");
      assert.equal(sub.account?.id, alice.id);
      assert.equal(sub.account?.address, "alice@mail.example");
      assert.equal(sub.detail, "news");
      assert.equal(sub.via, "subaddress");
      assert.ok(sub.account?.inboxId);

      assert.equal((await store.accounts.recipient("sales+q3@mail.example")).account?.id, alice.id);
      // Sub-addressing off, or another separator.
      assert.equal((await store.accounts.recipient("alice+news@mail.example", "")).account, undefined);
      const dash = await store.accounts.recipient("alice-news@mail.example", "-+");
      assert.equal(dash.account?.id, alice.id);
      assert.equal(dash.detail, "news");
      // An account whose name contains the separator is matched exactly first.
      const plus = await store.accounts.create({ address: "c+d@mail.example", password: "pw" });
      const exactPlus = await store.accounts.recipient("c+d@mail.example");
      assert.equal(exactPlus.account?.id, plus.id);
      assert.equal(exactPlus.detail, undefined);

      // Unknown user: refused until the domain gets a catch-all.
      const unknown = await store.accounts.recipient("nobody@mail.example");
      assert.equal(unknown.localDomain, true);
      assert.equal(unknown.account, undefined);
      await store.domains.update("mail.example", { catchAll: "alice@mail.example" });
      const caught = await store.accounts.recipient("nobody@mail.example");
      assert.equal(caught.account?.id, alice.id);
      assert.equal(caught.via, "catch-all");

      // Alias domain: local@alias → local@target (sub-addressing included).
      await store.domains.add("alias.example", { aliasOf: "mail.example" });
      const viaAlias = await store.accounts.recipient("alice+x@alias.example");
      assert.equal(viaAlias.account?.id, alice.id);
      assert.equal(viaAlias.detail, "x");
      assert.equal(viaAlias.via, "alias-domain");
      assert.equal((await store.accounts.recipient("who@alias.example")).via, "catch-all");
      await assert.rejects(
        store.domains.add("alias2.example", { aliasOf: "alias.example" }),
        InvalidDomainError,
      );

      // Forward to external addresses.
      await store.domains.setForward("team@mail.example", ["x@remote.example", "Y@remote.example"]);
      const fwd = await store.accounts.recipient("team@mail.example");
      assert.deepEqual(fwd.forward, ["x@remote.example", "y@remote.example"]);
      assert.equal(fwd.account, undefined);
      await assert.rejects(
        store.domains.setForward("alice@mail.example", ["x@remote.example"]),
        DomainInUseError,
      );
      assert.equal(await store.domains.removeForward("team@mail.example"), true);

      // Not ours at all.
      assert.equal((await store.accounts.recipient("alice@elsewhere.example")).localDomain, false);
    });

    test("a domain's default quota applies to new accounts that don't name one", async () => {
      await store.domains.add("quota.example", { defaultQuotaBytes: 12345 });
      assert.equal(
        (await store.accounts.create({ address: "a@quota.example", password: "pw" })).quotaBytes,
        12345,
      );
      const none = await store.accounts.create({
        address: "b@quota.example",
        password: "pw",
        quotaBytes: null,
      });
      assert.equal(none.quotaBytes, null, "explicitly none");
      const own = await store.accounts.create({ address: "c@quota.example", password: "pw", quotaBytes: 7 });
      assert.equal(own.quotaBytes, 7);
      assert.equal(
        (await store.accounts.create({ address: "d@noquota.example", password: "pw" })).quotaBytes,
        null,
      );
    });

    test("require app passwords flag round-trips on the account", async () => {
      const a = await store.accounts.create({ address: "strict@mail2.example", password: "pw" });
      assert.equal(a.requireAppPasswords, false);
      await store.accounts.setRequireAppPasswords(a.id, true);
      assert.equal((await store.accounts.byId(a.id))?.requireAppPasswords, true);
    });
  });
}

test("splitDetail: first separator, never an empty user part", () => {
  assert.deepEqual(splitDetail("a+b+c", "+"), { user: "a", detail: "b+c" });
  assert.deepEqual(splitDetail("a-b+c", "+-"), { user: "a", detail: "b+c" });
  assert.equal(splitDetail("+abc", "+"), undefined);
  assert.equal(splitDetail("abc", "+"), undefined);
  assert.equal(splitDetail("a+b", ""), undefined);
});

describe("real PostgreSQL", () => {
  let db: TestDatabase | undefined;
  domainContract("domains on PostgreSQL", async () => {
    db = await createTestDatabase();
    return { store: await Store.open({ url: db.url, poolMax: 2 }), cleanup: () => db!.drop() };
  });
});

describe("embedded PGlite", () => {
  let embedded: EmbeddedPostgres | undefined;
  domainContract("domains on embedded PGlite", async () => {
    const dir = await tempDir("aerogram-pglite-");
    embedded = await startEmbeddedPostgres({ dir: `${dir.path}/pg`, port: 0 });
    return {
      store: await Store.open({ url: embedded.url, poolMax: 2 }),
      cleanup: async () => {
        await embedded?.stop();
        await dir.remove();
      },
    };
  });
});
