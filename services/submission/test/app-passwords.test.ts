/**
 * Issue 23 on submission, over real sockets (loopback: AUTH without TLS):
 * an app password scoped to submission logs in, one scoped to imap does not,
 * the main password is refused once the account requires app passwords, and
 * revoking the app password ends the live session with 421 (over NATS, as
 * another replica's revocation would arrive).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { revokeSessions } from "@aerogram/auth";
import { requireServer } from "@aerogram/testkit";
import { SmtpTalk } from "../../smtp-in/test/support.ts";
import { type Harness, startHarness } from "./support.ts";

let h: Harness | undefined;

before(async (t) => {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t as never, s))) return;
  h = await startHarness();
});
after(() => h?.close());

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");

test("app passwords on submission: scope, require-app-passwords, revocation ends the session", async (t) => {
  if (!h) return t.skip("servers unavailable");
  const account = await h.runtime.store.accounts.create({
    address: "apps@example.com",
    password: "main-pass",
  });
  const { secret } = await h.runtime.store.appPasswords.create(account.id, "mua", ["submission"]);
  const { secret: imapOnly } = await h.runtime.store.appPasswords.create(account.id, "other", ["imap"]);

  const s = await SmtpTalk.open(h.port);
  await s.reply();
  await s.cmd("EHLO client.example");
  assert.match(await s.cmd(`AUTH PLAIN ${plain("apps@example.com", imapOnly)}`), /^535 5\.7\.8/);
  await h.runtime.store.accounts.setRequireAppPasswords(account.id, true);
  assert.match(await s.cmd(`AUTH PLAIN ${plain("apps@example.com", "main-pass")}`), /^535 5\.7\.8/);
  assert.match(await s.cmd(`AUTH PLAIN ${plain("apps@example.com", secret)}`), /^235 /);
  assert.match(await s.cmd("MAIL FROM:<apps@example.com>"), /^250/);

  await h.runtime.store.appPasswords.revoke(account.id, "mua");
  revokeSessions(h.runtime.events, account.id);
  assert.match(await s.reply(), /^421 4\.7\.0 Session ended/);
  assert.ok(await s.waitClosed());
});
