import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MemoryLimiter, RedisLimiter } from "@aerogram/limits";
import { createLogger, createRegistry } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import {
  createTestDatabase,
  requireServer,
  TEST_REDIS_URL,
  type TestDatabase,
  uniqueId,
} from "@aerogram/testkit";
import { Authenticator, decodeBase64Line, decodeSaslPlain } from "../src/index.ts";

let db: TestDatabase;
let store: Store;
const log = createLogger({ level: "silent" });

before(async () => {
  db = await createTestDatabase();
  store = await Store.open({ url: db.url, poolMax: 4 });
  await store.accounts.create({ address: "user@example.com", password: "right" });
  const other = await store.accounts.create({ address: "other@example.com", password: "right" });
  await store.accounts.addAlias(other.id, "alias@example.com");
});
after(async () => {
  await store.close();
  await db.drop();
});

test("SASL PLAIN and LOGIN decoding", () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  assert.deepEqual(decodeSaslPlain(b64("\0user@example.com\0pw")), {
    authzid: "",
    username: "user@example.com",
    password: "pw",
  });
  assert.equal(decodeSaslPlain(b64("user\0pw")), undefined);
  assert.equal(decodeSaslPlain(b64("\0\0pw")), undefined);
  assert.equal(decodeSaslPlain("not base64!"), undefined);
  assert.equal(decodeBase64Line(b64("päss")), "päss");
  assert.equal(decodeBase64Line("*"), undefined);
});

test("login by address or alias, wrong password, unknown user", async () => {
  const auth = new Authenticator({
    store,
    limits: new MemoryLimiter(),
    log,
    metrics: createRegistry("t"),
  });
  const ok = await auth.login({
    username: "USER@example.com",
    password: "right",
    remoteAddress: "10.0.0.1",
    protocol: "imap",
  });
  assert.ok(ok.ok && ok.account.address === "user@example.com");
  const alias = await auth.login({
    username: "alias@example.com",
    password: "right",
    remoteAddress: "10.0.0.1",
    protocol: "pop3",
  });
  assert.ok(alias.ok && alias.account.address === "other@example.com");
  const bad = await auth.login({
    username: "user@example.com",
    password: "wrong",
    remoteAddress: "10.0.0.1",
    protocol: "imap",
  });
  assert.deepEqual(bad, { ok: false, reason: "invalid" });
  const none = await auth.login({
    username: "ghost@example.com",
    password: "x",
    remoteAddress: "10.0.0.1",
    protocol: "imap",
  });
  assert.deepEqual(none, { ok: false, reason: "invalid" });
  // The credential cache must not outlive a password change.
  const acct = (await store.accounts.byAddress("user@example.com"))!;
  await store.accounts.setPassword(acct.id, "new");
  const stale = await auth.login({
    username: "user@example.com",
    password: "right",
    remoteAddress: "10.0.0.2",
    protocol: "imap",
  });
  assert.equal(stale.ok, false);
  await store.accounts.setPassword(acct.id, "right");
});

test("a one-query credential lookup (Accounts.loginCredentials) answers like the store's two", async () => {
  const queries = store.accounts;
  for (const name of ["user@example.com", "ALIAS@example.com", " Other@Example.com "]) {
    const account = (await store.accounts.byAddress(name))!;
    assert.deepEqual(await queries.loginCredentials(name), {
      account,
      passwordHash: await store.accounts.passwordHash(account.id),
    });
  }
  assert.equal(await queries.loginCredentials("ghost@example.com"), undefined);

  const looked: string[] = [];
  const auth = new Authenticator({
    store,
    limits: new MemoryLimiter(),
    log,
    metrics: createRegistry("t"),
    credentials: (name) => {
      looked.push(name);
      return queries.loginCredentials(name);
    },
  });
  const login = (username: string, password: string) =>
    auth.login({ username, password, remoteAddress: "10.0.0.3", protocol: "pop3" });
  const alias = await login("Alias@example.com", "right");
  assert.ok(alias.ok && alias.account.address === "other@example.com");
  assert.deepEqual(await login("alias@example.com", "wrong"), { ok: false, reason: "invalid" });
  assert.deepEqual(await login("ghost@example.com", "right"), { ok: false, reason: "invalid" });
  assert.deepEqual(looked, ["alias@example.com", "alias@example.com", "ghost@example.com"]);
  // A password change still misses the credential cache.
  const acct = (await store.accounts.byAddress("other@example.com"))!;
  await store.accounts.setPassword(acct.id, "changed");
  assert.equal((await login("other@example.com", "right")).ok, false);
  await store.accounts.setPassword(acct.id, "right");
});

test("prefetch and speculate: one lookup for USER and PASS, follow-up work only for a cached good password", async () => {
  const queries = store.accounts;
  const looked: string[] = [];
  const limits = new MemoryLimiter();
  const auth = new Authenticator(
    {
      store,
      limits,
      log,
      metrics: createRegistry("t"),
      credentials: (name) => {
        looked.push(name);
        return queries.loginCredentials(name);
      },
    },
    { freeFailures: 0, baseBackoffMs: 60_000 },
  );
  const speculated: number[] = [];
  const login = (username: string, password: string, remoteAddress = "10.0.0.5") =>
    auth.login(
      { username, password, remoteAddress, protocol: "pop3" },
      {
        prefetched: auth.prefetch(username),
        speculate: (account) => {
          speculated.push(account.id);
          return `work for ${account.id}`;
        },
      },
    );
  // First login: no cache entry yet, so nothing is speculated; the prefetch is the only lookup.
  const first = await login(" User@Example.com", "right");
  assert.ok(first.ok);
  assert.equal(first.speculated, undefined);
  assert.deepEqual(looked, ["user@example.com"]);
  // Second: the cache knows the password; the work starts and comes back with the result.
  const second = await login("user@example.com", "right");
  assert.ok(second.ok);
  assert.equal(second.speculated, `work for ${second.account.id}`);
  assert.deepEqual(speculated, [second.account.id]);
  // A wrong password is never speculated on.
  assert.equal((await login("user@example.com", "wrong", "10.0.0.6")).ok, false);
  assert.equal(speculated.length, 1);
  // Throttled (the failure above blocked the name): the started work is handed back to undo.
  const throttled = await login("user@example.com", "right", "10.0.0.7");
  assert.equal(throttled.ok, false);
  assert.equal(!throttled.ok && throttled.reason, "throttled");
  assert.equal(throttled.speculated, `work for ${second.account.id}`);
  // A prefetch for another name is not used: the login looks its own name up.
  looked.length = 0;
  await auth.login(
    { username: "other@example.com", password: "right", remoteAddress: "10.0.0.8", protocol: "pop3" },
    { prefetched: auth.prefetch("alias@example.com") },
  );
  assert.deepEqual(looked, ["alias@example.com", "other@example.com"]);
});

test("a success forgives the login name's failures, and costs no reset when there were none", async () => {
  const limits = new MemoryLimiter();
  const resets: string[] = [];
  const reset = limits.reset.bind(limits);
  limits.reset = (key) => {
    resets.push(key);
    return reset(key);
  };
  const auth = new Authenticator({ store, limits, log, metrics: createRegistry("t") });
  const login = (password: string) =>
    auth.login({ username: "user@example.com", password, remoteAddress: "10.0.0.4", protocol: "imap" });
  assert.equal((await login("right")).ok, true);
  assert.deepEqual(resets, []);
  assert.equal((await login("wrong")).ok, false);
  assert.equal((await login("wrong")).ok, false);
  assert.equal(await limits.get("authfail:user:user@example.com"), 2);
  assert.equal((await login("right")).ok, true);
  assert.equal(await limits.get("authfail:user:user@example.com"), 0);
  assert.deepEqual(resets, ["authfail:user:user@example.com"]);
  // The IP's failures are not forgiven.
  assert.equal(await limits.get("authfail:ip:10.0.0.4"), 2);
});

test("failures throttle per IP and per account, shared by two replicas through Redis", async (t) => {
  if (!(await requireServer(t, "redis"))) return;
  const prefix = `t:${uniqueId()}:`;
  const [l1, l2] = await Promise.all([
    RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix: prefix }),
    RedisLimiter.connect({ url: TEST_REDIS_URL, keyPrefix: prefix }),
  ]);
  try {
    const opts = { freeFailures: 3, baseBackoffMs: 1000, maxBackoffMs: 60_000 };
    const replicas = [
      new Authenticator({ store, limits: l1, log, metrics: createRegistry("a") }, opts),
      new Authenticator({ store, limits: l2, log, metrics: createRegistry("b") }, opts),
    ];
    // Four failures spread over both replicas from one IP (three free, the fourth starts the back-off)…
    for (let i = 0; i < 4; i++) {
      const r = await replicas[i % 2]!.login({
        username: "other@example.com",
        password: `guess${i}`,
        remoteAddress: "192.0.2.7",
        protocol: "imap",
      });
      assert.deepEqual(r, { ok: false, reason: "invalid" });
    }
    // …now even the right password from that IP is refused without a check, on either replica.
    const r = await replicas[0]!.login({
      username: "other@example.com",
      password: "right",
      remoteAddress: "192.0.2.7",
      protocol: "imap",
    });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, "throttled");
    assert.equal(!r.ok && r.retryAfterMs, 1000, "1 s for the first failure past the free three");
    // The account is throttled from other IPs as well (guessing from a botnet).
    const fromElsewhere = await replicas[1]!.login({
      username: "other@example.com",
      password: "right",
      remoteAddress: "198.51.100.1",
      protocol: "pop3",
    });
    assert.equal(!fromElsewhere.ok && fromElsewhere.reason, "throttled");
    // When the block runs out, one more attempt is checked, and the right password works.
    await new Promise((res) => setTimeout(res, 1200));
    const later = await replicas[1]!.login({
      username: "other@example.com",
      password: "right",
      remoteAddress: "192.0.2.7",
      protocol: "imap",
    });
    assert.equal(later.ok, true);
    // Other accounts from other IPs are unaffected.
    const unaffected = await replicas[1]!.login({
      username: "user@example.com",
      password: "right",
      remoteAddress: "198.51.100.2",
      protocol: "imap",
    });
    assert.equal(unaffected.ok, true);
  } finally {
    await Promise.all([l1.close(), l2.close()]);
  }
});

test("a dead limiter makes logins 'unavailable', not a crash", async () => {
  const limits = new MemoryLimiter();
  limits.get = async () => {
    throw new Error("connection refused");
  };
  const auth = new Authenticator({ store, limits, log, metrics: createRegistry("t") });
  const r = await auth.login({
    username: "user@example.com",
    password: "right",
    remoteAddress: "10.0.0.9",
    protocol: "imap",
  });
  assert.deepEqual(r, { ok: false, reason: "unavailable" });
});

test("the gateways of one process share the verified-login cache; a changed password misses it", async () => {
  const address = `shared-${uniqueId()}@example.com`;
  const account = await store.accounts.create({ address, password: "shared secret" });
  const gateway = () =>
    new Authenticator({ store, limits: new MemoryLimiter(), log, metrics: createRegistry("t") });
  const imap = gateway();
  const pop3 = gateway();
  const attempt = (auth: Authenticator, password: string) =>
    auth.login(
      { username: address, password, remoteAddress: "10.0.1.1", protocol: "pop3" },
      // speculate runs only when the password is known good from the cache (no scrypt).
      { speculate: () => "from the cache" },
    );
  assert.equal((await attempt(pop3, "shared secret")).speculated, undefined, "nothing cached yet");
  // IMAP's first login of that password is answered from the cache POP3 filled.
  const viaImap = await attempt(imap, "shared secret");
  assert.ok(viaImap.ok);
  assert.equal(viaImap.speculated, "from the cache");
  // A new password is a new stored hash: the old one is refused, the new one verified afresh.
  await store.accounts.setPassword(account.id, "new secret");
  assert.equal((await attempt(imap, "shared secret")).ok, false);
  const fresh = await attempt(pop3, "new secret");
  assert.ok(fresh.ok);
  assert.equal(fresh.speculated, undefined);
});
