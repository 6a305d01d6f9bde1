/**
 * The IMAP and login limits set through their environment variables (libs/config,
 * as in a deployment), low enough to trip over a real socket, each with the
 * answer the README documents: IMAP_APPEND_LIMIT_BYTES (APPENDLIMIT, NO [TOOBIG]
 * before any literal byte), IMAP_AUTOLOGOUT_MS and IMAP_LOGIN_DEADLINE_MS (BYE and
 * close), AUTH_FREE_FAILURES / AUTH_BASE_BACKOFF_MS (NO [LIMIT], even for the right
 * password, while the back-off lasts).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import {
  type Backends,
  createAccount,
  type Gateway,
  message,
  RawClient,
  startBackends,
  startGateway,
} from "./helpers.ts";

let backends: Backends;
let gateway: Gateway;
before(async () => {
  backends = await startBackends();
  Object.assign(backends.env, {
    IMAP_APPEND_LIMIT_BYTES: "4096",
    IMAP_AUTOLOGOUT_MS: "1500",
    IMAP_PREAUTH_IDLE_MS: "60000",
    IMAP_LOGIN_DEADLINE_MS: "2000",
    AUTH_FREE_FAILURES: "1",
    AUTH_BASE_BACKOFF_MS: "60000",
  });
  gateway = await startGateway(backends);
});
after(async () => {
  await gateway?.close();
  await backends?.stop();
});

test("IMAP_APPEND_LIMIT_BYTES: APPENDLIMIT and STATUS say it; a bigger literal gets NO [TOOBIG] instead of +", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { user, pass } = await createAccount(gateway.runtime);
  const c = await RawClient.connect(gateway.port);
  try {
    assert.match(await c.login(user, pass), /OK/);
    assert.match(await c.command("CAPABILITY"), /^\* CAPABILITY .* APPENDLIMIT=4096[ \r]/m);
    assert.match(await c.command("STATUS INBOX (APPENDLIMIT)"), /APPENDLIMIT 4096/);
    const small = message("small");
    c.write(`a1 APPEND INBOX {${small.length}}\r\n`);
    await c.readUntil((text) => text.startsWith("+"));
    c.take();
    c.write(`${small}\r\n`);
    assert.match(await c.response("a1"), /^a1 OK/m);
    c.write("a2 APPEND INBOX {5000}\r\n");
    const refused = await c.response("a2");
    assert.match(refused, /^a2 NO \[TOOBIG\]/m);
    assert.doesNotMatch(refused, /^\+/m, "no continuation: not a byte of it is read");
    assert.match(await c.command("NOOP"), /OK/, "the session goes on");
  } finally {
    c.close();
  }
});

test("IMAP_AUTOLOGOUT_MS: an authenticated session without commands gets BYE and is closed", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { user, pass } = await createAccount(gateway.runtime);
  const c = await RawClient.connect(gateway.port);
  assert.match(await c.login(user, pass), /OK/);
  const started = Date.now();
  const text = await c.readUntil(() => c.closed, 8000);
  assert.match(text, /^\* BYE Autologout/m);
  assert.ok(Date.now() - started >= 1400, "not before the autologout");
});

test("IMAP_LOGIN_DEADLINE_MS: a busy connection that never logs in is closed after it", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const c = await RawClient.connect(gateway.port);
  const started = Date.now();
  // A command every 300 ms keeps it well inside the 60 s pre-login idle timeout.
  while (!c.closed && Date.now() - started < 8000) {
    await new Promise((r) => setTimeout(r, 300));
    c.write("n NOOP\r\n");
  }
  assert.ok(c.closed, "closed");
  assert.match(c.take(), /^\* BYE Autologout/m);
  const took = Date.now() - started;
  assert.ok(took >= 1900 && took < 6000, `closed after the 2 s login deadline (${took} ms)`);
});

test("AUTH_FREE_FAILURES, AUTH_BASE_BACKOFF_MS: past the free failures even the right password gets NO [LIMIT]", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { user, pass } = await createAccount(gateway.runtime);
  const c = await RawClient.connect(gateway.port);
  try {
    assert.match(await c.login(user, "wrong"), /NO \[AUTHENTICATIONFAILED\]/);
    assert.match(await c.login(user, "wrong"), /NO \[AUTHENTICATIONFAILED\]/);
    assert.match(await c.login(user, pass), /NO \[LIMIT\]/, "blocked for AUTH_BASE_BACKOFF_MS (60 s)");
  } finally {
    c.close();
  }
});
