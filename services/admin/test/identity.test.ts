/**
 * Issue 23 over real HTTP against a real Postgres: client autoconfiguration
 * (Thunderbird autoconfig with ?emailaddress= and by Host, Outlook
 * Autodiscover POX including malformed requests, the Apple .mobileconfig),
 * and mailctl's domain / forward / app-password commands through the admin
 * API (HttpAdmin), so the API routes and the command table are both exercised.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { createRegistry, OpsServer } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { createTestDatabase, requireServer, type TestDatabase } from "@aerogram/testkit";
import {
  createAdminApi,
  createAutoconfig,
  HttpAdmin,
  isAutoconfigPath,
  runMailctl,
  StoreAdmin,
} from "../src/index.ts";

const TOKEN = "test-admin-token-identity-0123";
const ENDPOINTS = {
  host: "mail.example.net",
  imapsPort: 993,
  pop3sPort: 995,
  submissionsPort: 465,
  submissionPort: 587,
};

let db: TestDatabase | undefined;
let store: Store;
let server: OpsServer;
let base: string;
const revoked: number[] = [];

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  db = await createTestDatabase();
  store = await Store.open({ url: db.url, poolMax: 4 });
  const autoconfig = createAutoconfig({ store, endpoints: ENDPOINTS });
  const api = createAdminApi({
    ops: new StoreAdmin(store, { revokeSessions: (id) => revoked.push(id) }),
    token: TOKEN,
  });
  server = new OpsServer({
    registry: createRegistry("identity-test"),
    checks: [],
    fallback: (req, res) => (isAutoconfigPath(req.url) ? autoconfig(req, res) : api(req, res)),
  });
  const { port } = await server.listen(0, "127.0.0.1");
  base = `http://127.0.0.1:${port}`;
  await store.accounts.create({ address: "user@example.com", password: "pw" });
});

after(async () => {
  if (!db) return;
  await server.close();
  await store.close();
  await db.drop();
});

test("Thunderbird autoconfig returns the public servers for a hosted domain, 404 for others, 400 for garbage", async (t) => {
  if (!db) return t.skip("no postgres");
  const res = await fetch(
    `${base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=user%40example.com`,
  );
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /xml/);
  const body = await res.text();
  assert.match(body, /<domain>example\.com<\/domain>/);
  assert.match(
    body,
    /<incomingServer type="imap">\s*<hostname>mail\.example\.net<\/hostname>\s*<port>993<\/port>\s*<socketType>SSL<\/socketType>/,
  );
  assert.match(
    body,
    /<outgoingServer type="smtp">\s*<hostname>mail\.example\.net<\/hostname>\s*<port>465<\/port>/,
  );
  assert.match(body, /<username>%EMAILADDRESS%<\/username>/);
  // autoconfig.<domain>/mail/config-v1.1.xml: the domain comes from the Host header.
  const byHost = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      `${base}/mail/config-v1.1.xml`,
      { headers: { host: "autoconfig.example.com" } },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => {
          body += d.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
  assert.equal(byHost.status, 200);
  assert.match(byHost.body, /<domain>example\.com<\/domain>/);
  assert.equal(
    (await fetch(`${base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a%40elsewhere.org`))
      .status,
    404,
  );
  assert.equal(
    (await fetch(`${base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=%3Cscript%3E`)).status,
    400,
  );
});

test("Outlook Autodiscover POX answers settings; malformed, oversized and entity-laden requests get clear errors", async (t) => {
  if (!db) return t.skip("no postgres");
  const request = (email: string) => `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress>${email}</EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request></Autodiscover>`;
  const post = (body: string, path = "/autodiscover/autodiscover.xml") =>
    fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "text/xml" }, body });
  const ok = await post(request("user@example.com"), "/Autodiscover/Autodiscover.xml");
  assert.equal(ok.status, 200);
  const body = await ok.text();
  assert.match(body, /<Type>IMAP<\/Type>\s*<Server>mail\.example\.net<\/Server>\s*<Port>993<\/Port>/);
  assert.match(body, /<Type>SMTP<\/Type>\s*<Server>mail\.example\.net<\/Server>\s*<Port>465<\/Port>/);
  assert.match(body, /<LoginName>user@example\.com<\/LoginName>/);

  const malformed = await post("<not-autodiscover/>");
  assert.equal(malformed.status, 400);
  assert.match(await malformed.text(), /<ErrorCode>600<\/ErrorCode>/);
  const entity = await post(`<!DOCTYPE x [<!ENTITY e "user@example.com">]>${request("&e;")}`);
  assert.equal(entity.status, 400);
  assert.equal((await post(request("nobody@elsewhere.org"))).status, 404);
  assert.equal((await post("x".repeat(64 * 1024))).status, 413);
  assert.equal((await fetch(`${base}/autodiscover/autodiscover.xml`)).status, 405);
});

test("Apple .mobileconfig profile for an address", async (t) => {
  if (!db) return t.skip("no postgres");
  const res = await fetch(`${base}/apple/mobileconfig?emailaddress=user%40example.com`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/x-apple-aspen-config");
  assert.match(res.headers.get("content-disposition") ?? "", /example\.com\.mobileconfig/);
  const body = await res.text();
  assert.match(body, /<key>IncomingMailServerHostName<\/key><string>mail\.example\.net<\/string>/);
  assert.match(body, /<key>EmailAddress<\/key><string>user@example\.com<\/string>/);
});

test("mailctl over the admin API: domain add/list/delete, forward, app-password add/list/revoke", async (t) => {
  if (!db) return t.skip("no postgres");
  const admin = new HttpAdmin(base, TOKEN);
  const run = async (...argv: string[]) => runMailctl(admin, argv);
  let r = await run(
    "domain",
    "add",
    "Example.ORG",
    "--catch-all",
    "user@example.com",
    "--quota",
    "5000",
    "--spam-action",
    "junk",
  );
  assert.equal(r.code, 0, r.output);
  assert.match(
    r.output,
    /example\.org {2}catch-all: user@example\.com {2}default quota: 5000 bytes {2}spam: junk/,
  );
  assert.equal((await run("domain", "add", "example.org")).code, 1, "exists → 409 → exit 1");
  assert.equal((await run("domain", "add", "not_a domain")).code, 1);
  assert.equal((await run("domain", "add", "x.example", "--spam-action", "bin")).code, 2);
  r = await run("domain", "list");
  assert.match(r.output, /^example\.com .*1 account$/m);
  assert.match(r.output, /^example\.org /m);
  assert.equal((await store.accounts.recipient("nobody@example.org")).account?.address, "user@example.com");
  assert.equal((await run("domain", "delete", "example.com")).code, 1, "in use");
  r = await run("forward", "add", "team@example.org", "a@far.example,b@far.example");
  assert.equal(r.code, 0, r.output);
  assert.match((await run("forward", "list")).output, /team@example\.org -> a@far\.example, b@far\.example/);
  assert.equal((await run("forward", "remove", "team@example.org")).code, 0);
  assert.equal((await run("domain", "delete", "example.org")).code, 0);

  r = await run("app-password", "add", "user@example.com", "Thunderbird", "--protocols", "imap,submission");
  assert.equal(r.code, 0, r.output);
  const secret = /: ([a-z-]{19})$/.exec(r.output)?.[1];
  assert.ok(secret, r.output);
  assert.equal((await run("app-password", "add", "user@example.com", "Thunderbird")).code, 1);
  assert.equal((await run("app-password", "add", "user@example.com", "x", "--protocols", "ftp")).code, 1);
  assert.match(
    (await run("app-password", "list", "user@example.com")).output,
    /Thunderbird {2}imap,submission .* never used/,
  );
  revoked.length = 0;
  assert.equal((await run("app-password", "revoke", "user@example.com", "Thunderbird")).code, 0);
  assert.equal(revoked.length, 1, "revocation ends the sessions");
  assert.match((await run("app-password", "list", "user@example.com")).output, /\(revoked /);
  assert.equal((await run("app-password", "revoke", "user@example.com", "Thunderbird")).code, 1);
  assert.equal((await run("require-app-passwords", "user@example.com", "on")).code, 0);
  assert.equal((await store.accounts.byAddress("user@example.com"))?.requireAppPasswords, true);
  // Password change and disable end sessions too.
  revoked.length = 0;
  await run("passwd", "user@example.com", "--password", "new-pass");
  await run("disable", "user@example.com");
  assert.equal(revoked.length, 2);
});
