/**
 * POP3 and login limits set through their environment variables (libs/config,
 * as in a deployment), low enough to trip over a real socket, with the answers
 * the README documents: POP3_IDLE_TIMEOUT_MS (-ERR autologout and close), and
 * AUTH_FREE_FAILURES / AUTH_BASE_BACKOFF_MS (-ERR [LOGIN-DELAY] with the seconds
 * to wait, even for the right password, while the back-off lasts).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Runtime } from "@aerogram/runtime";
import { createPop3Service, type Pop3Service } from "../src/service.ts";
import {
  accountWithMail,
  message,
  RawClient,
  requireServers,
  startBackends,
  type TestBackends,
} from "./helpers.ts";

let backends: TestBackends;
let runtime: Runtime;
let pop3: Pop3Service;
before(async () => {
  backends = await startBackends();
  runtime = await backends.runtime("pop3-test", {
    POP3_IDLE_TIMEOUT_MS: "1500",
    AUTH_FREE_FAILURES: "1",
    AUTH_BASE_BACKOFF_MS: "30000",
  });
  pop3 = await createPop3Service(runtime, { host: "127.0.0.1", port: 0 });
});
after(async () => {
  await pop3?.drain(0);
  await runtime?.close();
  await backends?.stop();
});

test("POP3_IDLE_TIMEOUT_MS: a silent logged-in session gets -ERR autologout and is closed", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  await accountWithMail(runtime, "idle@example.org", "pw", [message(1)]);
  const c = await RawClient.connect(pop3.port);
  const greeting = await c.line();
  assert.match(greeting, /^\+OK/);
  assert.match(await c.cmd("USER idle@example.org"), /^\+OK/);
  assert.match(await c.cmd("PASS pw"), /^\+OK/);
  const started = Date.now();
  assert.match(await c.line(), /^-ERR autologout/);
  assert.ok(Date.now() - started >= 1400, "not before the idle timeout");
});

test("AUTH_FREE_FAILURES, AUTH_BASE_BACKOFF_MS: past the free failures even the right password gets [LOGIN-DELAY]", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  await accountWithMail(runtime, "guess@example.org", "pw", []);
  const c = await RawClient.connect(pop3.port);
  await c.line();
  for (let i = 0; i < 2; i++) {
    assert.match(await c.cmd("USER guess@example.org"), /^\+OK/);
    assert.match(await c.cmd("PASS wrong"), /^-ERR \[AUTH\]/);
  }
  assert.match(await c.cmd("USER guess@example.org"), /^\+OK/);
  assert.match(
    await c.cmd("PASS pw"),
    /^-ERR \[LOGIN-DELAY\] too many failed logins; try again in (2\d|30) s/,
  );
  c.socket.destroy();
});
