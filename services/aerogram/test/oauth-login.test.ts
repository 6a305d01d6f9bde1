/**
 * OAuth 2.0 logins end to end (issue 23): IMAP, POP3 and submission started as
 * `npm start` starts them (startServices) on one runtime configured with a
 * local OIDC issuer (libs/testkit oidc-issuer.ts, JWKS over loopback HTTP).
 * Over real sockets: a token from the issuer logs in with OAUTHBEARER on all
 * three and with XOAUTH2; an expired one gets the RFC 7628 §3.2.2 error
 * challenge and then the protocol's failure.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Runtime, ServiceHandle } from "@aerogram/runtime";
import {
  oauthBearerResponse,
  requireServer,
  startTestBackend,
  type TestBackend,
  TestOidcIssuer,
  TextClient,
  xoauth2Response,
} from "@aerogram/testkit";
import { drainServices, startServices } from "../src/services.ts";

let backend: TestBackend<"fs"> | undefined;
let runtime: Runtime;
let services: ServiceHandle[] = [];
let issuer: TestOidcIssuer;
const ports: Record<string, number> = {};
const USER = "oauth@example.com";

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  issuer = await TestOidcIssuer.start("aerogram-mail");
  backend = await startTestBackend({ blobs: "fs", settings: { LOG_LEVEL: "warn" } });
  runtime = await backend.runtime("oauth-test", {
    ...issuer.env(),
    AEROGRAM_SERVICES: "imap,pop3,submission",
    IMAP_PORT: "0",
    POP3_PORT: "0",
    SMTP_PORT: "0",
    SUBMISSION_PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
  });
  services = await startServices(runtime);
  for (const s of services) {
    for (const e of s.endpoints) {
      const m = /^(\w+)\s+[\d.]+:(\d+)/.exec(e);
      if (m) ports[m[1]!.toLowerCase()] = Number(m[2]);
    }
  }
  await runtime.store.accounts.create({ address: USER, password: "unused-password" });
});

after(async () => {
  await drainServices(services, 0);
  await runtime?.close();
  await backend?.stop();
  await issuer?.close();
});

function errorChallenge(line: string): Record<string, string> {
  const b64 = /^(?:\+|334) ?(\S*)/.exec(line.trim())?.[1] ?? "";
  return JSON.parse(Buffer.from(b64, "base64").toString()) as Record<string, string>;
}

test("IMAP: OAUTHBEARER and XOAUTH2 with a token from the issuer; an expired token is refused with the error challenge", async (t) => {
  if (!backend) return t.skip("no postgres");
  const c = await TextClient.open(ports.imap!);
  const greeting = await c.expect(/\* OK .*\r\n/);
  assert.match(greeting, /AUTH=OAUTHBEARER AUTH=XOAUTH2/);
  const expired = await issuer.token(USER, { expiresIn: -120 });
  const challenge = await c.say(
    `a AUTHENTICATE OAUTHBEARER ${oauthBearerResponse(USER, expired)}`,
    /\+ \S+\r\n/,
  );
  assert.equal(errorChallenge(challenge).status, "invalid_token");
  assert.match(
    errorChallenge(challenge)["openid-configuration"] ?? "",
    /\/\.well-known\/openid-configuration$/,
  );
  assert.match(
    await c.say(Buffer.from("\x01").toString("base64"), /a NO .*\r\n/),
    /a NO \[AUTHENTICATIONFAILED\]/,
  );
  const good = await issuer.token(USER);
  assert.match(
    await c.say(`b AUTHENTICATE OAUTHBEARER ${oauthBearerResponse(USER, good)}`, /b (OK|NO).*\r\n/),
    /b OK/,
  );
  assert.match(await c.say("c SELECT INBOX", /c OK.*\r\n/), /c OK \[READ-WRITE\]/);
  await c.quit("z LOGOUT");

  const x = await TextClient.open(ports.imap!);
  await x.expect(/\* OK .*\r\n/);
  // Without SASL-IR: the empty challenge first.
  await x.say("a AUTHENTICATE XOAUTH2", /\+ ?\r\n/);
  assert.match(await x.say(xoauth2Response(USER, await issuer.token(USER)), /a (OK|NO).*\r\n/), /a OK/);
  await x.quit("z LOGOUT");
});

test("POP3: AUTH OAUTHBEARER with a good token opens the maildrop; expired and forged tokens get the challenge, then -ERR [AUTH]", async (t) => {
  if (!backend) return t.skip("no postgres");
  const c = await TextClient.open(ports.pop3!);
  await c.expect(/\+OK .*\r\n/);
  assert.match(await c.say("CAPA", /\+OK[\s\S]*?\r\n\.\r\n/), /SASL PLAIN LOGIN OAUTHBEARER XOAUTH2/);
  for (const bad of [
    await issuer.token(USER, { expiresIn: -120 }),
    await issuer.token(USER, { forged: true }),
  ]) {
    const challenge = await c.say(
      `AUTH OAUTHBEARER ${oauthBearerResponse(USER, bad, "localhost", 110)}`,
      /\+ \S+\r\n/,
    );
    assert.equal(errorChallenge(challenge).status, "invalid_token");
    assert.match(await c.say(Buffer.from("\x01").toString("base64"), /-ERR.*\r\n/), /-ERR \[AUTH\]/);
  }
  const good = await issuer.token(USER);
  assert.match(
    await c.say(
      `AUTH OAUTHBEARER ${oauthBearerResponse(USER, good, "localhost", 110)}`,
      /[+-](OK|ERR).*\r\n/,
    ),
    /\+OK maildrop/,
  );
  await c.quit("QUIT");
});

test("submission: AUTH OAUTHBEARER and XOAUTH2 with good tokens; an expired one is 334 + error JSON, then 535", async (t) => {
  if (!backend) return t.skip("no postgres");
  const c = await TextClient.open(ports.submission!);
  await c.expect(/^220 .*\r\n/m);
  const ehlo = await c.say("EHLO client.example", /(250-[^\r\n]*\r\n)*250 [^\r\n]*\r\n/);
  assert.match(ehlo, /AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2/);
  const expired = await issuer.token(USER, { expiresIn: -120 });
  const challenge = await c.say(
    `AUTH OAUTHBEARER ${oauthBearerResponse(USER, expired, "localhost", 587)}`,
    /334 \S+\r\n/,
  );
  assert.equal(errorChallenge(challenge).status, "invalid_token");
  assert.match(await c.say(Buffer.from("\x01").toString("base64"), /535 .*\r\n/), /535 5\.7\.8/);
  const good = await issuer.token(USER);
  assert.match(
    await c.say(`AUTH OAUTHBEARER ${oauthBearerResponse(USER, good, "localhost", 587)}`, /\d{3} .*\r\n/),
    /^235 /,
  );
  assert.match(await c.say("MAIL FROM:<oauth@example.com>", /\d{3} .*\r\n/), /^250/);
  await c.quit("QUIT");

  const x = await TextClient.open(ports.submission!);
  await x.expect(/^220 .*\r\n/m);
  await x.say("EHLO client.example", /(250-[^\r\n]*\r\n)*250 [^\r\n]*\r\n/);
  assert.match(
    await x.say(`AUTH XOAUTH2 ${xoauth2Response(USER, await issuer.token(USER))}`, /\d{3} .*\r\n/),
    /^235 /,
  );
  await x.quit("QUIT");
});
