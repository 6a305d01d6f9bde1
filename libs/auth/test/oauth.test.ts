/**
 * OAuth 2.0 bearer tokens (issue 23) against a local OIDC issuer on loopback
 * (libs/testkit oidc-issuer.ts) and a real Postgres: good, expired, forged,
 * wrong-audience, wrong-issuer and replayed tokens; the JWKS endpoint down
 * (cached keys keep working until their max age; none cached → unavailable);
 * key rotation; SASL OAUTHBEARER / XOAUTH2 decoding; app passwords in the
 * password path.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MemoryLimiter } from "@aerogram/limits";
import { createLogger, createRegistry } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import {
  createTestDatabase,
  oauthBearerResponse,
  requireServer,
  type TestDatabase,
  TestOidcIssuer,
  xoauth2Response,
} from "@aerogram/testkit";
import {
  Authenticator,
  decodeOAuthBearer,
  decodeXOAuth2,
  type OAuthOptions,
  oauthErrorChallenge,
  TokenAuthenticator,
} from "../src/index.ts";

let db: TestDatabase | undefined;
let store: Store;
let issuer: TestOidcIssuer;
const log = createLogger({ level: "silent" });

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  db = await createTestDatabase();
  store = await Store.open({ url: db.url, poolMax: 4 });
  await store.accounts.create({ address: "user@example.com", password: "right" });
  issuer = await TestOidcIssuer.start("aerogram-test");
});
after(async () => {
  await issuer?.close();
  await store?.close();
  await db?.drop();
});

function options(over: Partial<OAuthOptions> = {}): OAuthOptions {
  return {
    issuer: issuer.url,
    jwksUrl: undefined,
    audience: "aerogram-test",
    usernameClaim: "email",
    jwksRefreshMs: 60_000,
    jwksMaxAgeMs: 3_600_000,
    clockSkewSeconds: 0,
    singleUseTokens: false,
    ...over,
  };
}

function verifier(over: Partial<OAuthOptions> = {}) {
  return new TokenAuthenticator(
    { store, limits: new MemoryLimiter(), log, metrics: createRegistry("t") },
    options(over),
    {
      freeFailures: 100,
      failureWindowMs: 60_000,
      blockMs: 60_000,
    },
  );
}

const req = (token: string, authzid = "") => ({
  token,
  authzid,
  remoteAddress: "10.1.1.1",
  protocol: "imap",
});

test("SASL OAUTHBEARER and XOAUTH2 decoding; malformed responses are undefined", () => {
  assert.deepEqual(decodeOAuthBearer(oauthBearerResponse("user@example.com", "a.b.c")), {
    authzid: "user@example.com",
    token: "a.b.c",
  });
  const noAuthzid = Buffer.from("n,,\x01auth=Bearer x.y.z\x01\x01").toString("base64");
  assert.deepEqual(decodeOAuthBearer(noAuthzid), { authzid: "", token: "x.y.z" });
  assert.deepEqual(decodeXOAuth2(xoauth2Response("user@example.com", "a.b.c")), {
    authzid: "user@example.com",
    token: "a.b.c",
  });
  assert.equal(decodeOAuthBearer(Buffer.from("n,a=u,\x01auth=Bearer x\x01").toString("base64")), undefined);
  assert.equal(
    decodeOAuthBearer(Buffer.from("p=tls-unique,,\x01auth=Bearer x\x01\x01").toString("base64")),
    undefined,
  );
  assert.equal(decodeOAuthBearer(Buffer.from("n,,\x01auth=Basic x\x01\x01").toString("base64")), undefined);
  assert.equal(decodeOAuthBearer("!!"), undefined);
  assert.equal(decodeXOAuth2(Buffer.from("auth=Bearer x\x01\x01").toString("base64")), undefined);
  const challenge = JSON.parse(
    Buffer.from(
      oauthErrorChallenge("https://i/.well-known/openid-configuration", "expired"),
      "base64",
    ).toString(),
  );
  assert.equal(challenge.status, "invalid_token");
  assert.equal(challenge["openid-configuration"], "https://i/.well-known/openid-configuration");
});

test("a good token logs in; expired, forged, wrong audience/issuer, other user and unknown account are refused", async (t) => {
  if (!db) return t.skip("no postgres");
  const v = verifier();
  const ok = await v.login(req(await issuer.token("User@Example.com"), "user@example.com"));
  assert.ok(ok.ok && ok.account.address === "user@example.com");
  const reasons = async (token: string, authzid = "") => {
    const r = await v.login(req(token, authzid));
    return r.ok ? "ok" : r.reason;
  };
  assert.equal(await reasons(await issuer.token("user@example.com", { expiresIn: -60 })), "expired");
  assert.equal(await reasons(await issuer.token("user@example.com", { forged: true })), "bad_signature");
  assert.equal(
    await reasons(await issuer.token("user@example.com", { audience: "someone-else" })),
    "wrong_audience",
  );
  assert.equal(
    await reasons(await issuer.token("user@example.com", { issuer: "https://evil.example" })),
    "wrong_issuer",
  );
  assert.equal(await reasons(await issuer.token("user@example.com"), "other@example.com"), "unknown_user");
  assert.equal(await reasons(await issuer.token("nobody@example.com")), "unknown_user");
  assert.equal(await reasons("not-a-jwt"), "malformed");
  // A token that is fine may be used again (clients reuse it per connection)…
  const reused = await issuer.token("user@example.com");
  assert.equal(await reasons(reused), "ok");
  assert.equal(await reasons(reused), "ok");
  // …unless single-use tokens are on: then a replay is refused.
  const strict = verifier({ singleUseTokens: true });
  const once = await issuer.token("user@example.com");
  assert.equal((await strict.login(req(once))).ok, true);
  const replay = await strict.login(req(once));
  assert.equal(replay.ok ? "ok" : replay.reason, "replayed");
  const noJti = await strict.login(req(await issuer.token("user@example.com", { jti: null })));
  assert.equal(noJti.ok ? "ok" : noJti.reason, "replayed", "single-use needs a jti");
});

test("JWKS down: cached keys keep working until their max age; without a cache the login is 'keys unavailable'", async (t) => {
  if (!db) return t.skip("no postgres");
  const v = verifier({ jwksRefreshMs: 1000 });
  const token = await issuer.token("user@example.com");
  assert.equal((await v.login(req(token))).ok, true);
  const fetched = issuer.jwksRequests;
  assert.equal((await v.login(req(token))).ok, true);
  assert.equal(issuer.jwksRequests, fetched, "cached, not fetched per login");

  issuer.down = true;
  try {
    // Past the refresh interval the refresh fails: the cached keys still verify…
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await v.login(req(token))).ok, true);
    // …and the next logins don't ask the dead issuer again (no login waits on it).
    const asked = issuer.requests;
    assert.equal((await v.login(req(token))).ok, true);
    assert.equal(issuer.requests, asked);
    // A fresh verifier has nothing cached: a clear temporary failure, not a crash.
    const cold = await verifier().login(req(token));
    assert.equal(cold.ok ? "ok" : cold.reason, "keys_unavailable");
    // And past the max age the cache is no longer trusted.
    const short = verifier({ jwksRefreshMs: 1000, jwksMaxAgeMs: 1000 });
    issuer.down = false;
    assert.equal((await short.login(req(token))).ok, true);
    issuer.down = true;
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await short.login(req(token));
    assert.equal(expired.ok ? "ok" : expired.reason, "keys_unavailable");
  } finally {
    issuer.down = false;
  }
});

test("key rotation: a token signed by a new key triggers one JWKS refresh", async (t) => {
  if (!db) return t.skip("no postgres");
  const v = verifier();
  assert.equal((await v.login(req(await issuer.token("user@example.com")))).ok, true);
  await issuer.rotate();
  const before = issuer.jwksRequests;
  assert.equal((await v.login(req(await issuer.token("user@example.com")))).ok, true);
  assert.equal(issuer.jwksRequests, before + 1);
});

test("app passwords in the password path: scoped, revocable, required", async (t) => {
  if (!db) return t.skip("no postgres");
  const account = (await store.accounts.byAddress("user@example.com"))!;
  const auth = new Authenticator({ store, limits: new MemoryLimiter(), log, metrics: createRegistry("t") });
  const { secret } = await store.appPasswords.create(account.id, "mail app", ["imap", "pop3"]);
  const login = (password: string, protocol = "imap") =>
    auth.login({ username: "user@example.com", password, remoteAddress: "10.2.2.2", protocol });
  assert.equal((await login(secret)).ok, true);
  assert.equal((await login(secret, "submission")).ok, false, "not in its scope");
  assert.equal((await login("right")).ok, true, "the main password still works");
  await store.accounts.setRequireAppPasswords(account.id, true);
  assert.equal((await login("right")).ok, false, "main password refused once app passwords are required");
  assert.equal((await login(secret)).ok, true);
  await store.appPasswords.revoke(account.id, "mail app");
  assert.equal((await login(secret)).ok, false, "revoked");
  await store.accounts.setRequireAppPasswords(account.id, false);
});
