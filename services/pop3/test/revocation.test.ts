/**
 * Issue 23 on POP3, over real sockets: an app password scoped to pop3 logs in
 * (one scoped to imap does not); revoking it ends the live session with
 * -ERR [AUTH] and the connection closes, without applying deletions.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { revokeSessions } from "@aerogram/auth";
import type { Runtime } from "@aerogram/runtime";
import { createPop3Service, type Pop3Service } from "../src/service.ts";
import {
  accountWithMail,
  message,
  openRuntime,
  RawClient,
  requireServers,
  serversReachable,
  startBackends,
  type TestBackends,
} from "./helpers.ts";

let backends: TestBackends | undefined;
let runtime: Runtime;
let pop3: Pop3Service;

before(async () => {
  if (!(await serversReachable(["postgres"]))) return;
  backends = await startBackends();
  runtime = await openRuntime(backends);
  pop3 = await createPop3Service(runtime, { host: "127.0.0.1", port: 0 });
});

after(async () => {
  if (!backends) return;
  await pop3.drain(100);
  await runtime.close();
  await backends.stop();
});

test("app passwords are scoped to pop3; revoking one ends the live session without applying DELE", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const { accountId } = await accountWithMail(runtime, "rev@example.org", "main pass", [
    message(1),
    message(2),
  ]);
  const { secret } = await runtime.store.appPasswords.create(accountId, "phone", ["pop3"]);
  const { secret: imapOnly } = await runtime.store.appPasswords.create(accountId, "laptop", ["imap"]);

  const refused = await RawClient.connect(pop3.port);
  await refused.line();
  await refused.cmd("USER rev@example.org");
  assert.match(await refused.cmd(`PASS ${imapOnly}`), /^-ERR \[AUTH\]/);
  refused.socket.destroy();

  const c = await RawClient.connect(pop3.port);
  await c.line();
  await c.cmd("USER rev@example.org");
  assert.match(await c.cmd(`PASS ${secret}`), /^\+OK maildrop has 2 messages/);
  assert.match(await c.cmd("DELE 1"), /^\+OK/);

  assert.equal(await runtime.store.appPasswords.revoke(accountId, "phone"), true);
  revokeSessions(runtime.events, accountId);
  assert.match(await c.line(), /^-ERR \[AUTH\] session ended: the account's credentials changed/);
  await c.waitClosed();
  assert.ok(c.closed);

  // The DELE was not applied; the revoked secret no longer works, the main password does.
  const again = await RawClient.connect(pop3.port);
  await again.line();
  await again.cmd("USER rev@example.org");
  assert.match(await again.cmd(`PASS ${secret}`), /^-ERR \[AUTH\]/);
  await again.cmd("USER rev@example.org");
  assert.match(await again.cmd("PASS main pass"), /^\+OK maildrop has 2 messages/);
  await again.cmd("QUIT");
});
