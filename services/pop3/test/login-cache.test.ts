/**
 * The fast login path over real sockets: USER prefetches the account, and a
 * password the Authenticator verified recently starts the lock request
 * before the block check answers. Neither may weaken a login: a changed
 * password takes effect at once, and a throttled login gives back the lock
 * it started.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Authenticator } from "@aerogram/auth";
import { Delivery } from "@aerogram/delivery";
import type { Runtime } from "@aerogram/runtime";
import { maildropLockKey } from "../src/maildrop.ts";
import { createPop3Service, type Pop3Service } from "../src/service.ts";
import {
  accountWithMail,
  login,
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
/** The block after one failure: long enough to try inside it, short enough to wait out. */
const BLOCK_MS = 1500;

before(async () => {
  if (!(await serversReachable(["postgres"]))) return;
  backends = await startBackends();
  runtime = await openRuntime(backends);
  const queries = runtime.store.accounts;
  const authenticator = new Authenticator(
    {
      store: runtime.store,
      limits: runtime.limits,
      log: runtime.log,
      metrics: runtime.metrics,
      credentials: (name) => queries.loginCredentials(name),
    },
    // Every failure blocks the IP and the name for BLOCK_MS (never longer: the tests share an IP).
    { freeFailures: 0, baseBackoffMs: BLOCK_MS, maxBackoffMs: BLOCK_MS },
  );
  // One session per account (the maildrop lock): a lock left behind would refuse the next login.
  pop3 = await createPop3Service(runtime, { host: "127.0.0.1", port: 0, authenticator });
});

after(async () => {
  if (!backends) return;
  await pop3.drain(100);
  await runtime.close();
  await backends.stop();
});

/** A whole session: login, and QUIT when it worked. Returns the PASS answer. */
async function session(user: string, password: string): Promise<string> {
  const c = await RawClient.connect(pop3.port);
  try {
    const answer = await login(c, user, password);
    if (answer.startsWith("+OK")) assert.match(await c.cmd("QUIT"), /^\+OK/);
    return answer;
  } finally {
    c.destroy();
  }
}

/** Polls (bounded) until the maildrop lock can be taken, then gives it back. */
async function lockFreeWithin(accountId: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const lease = await runtime.limits.acquire(maildropLockKey(accountId), 1000);
    if (lease) {
      await lease.release();
      return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a changed password takes effect at once although the old one is cached", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const { accountId } = await accountWithMail(runtime, "carol@example.org", "old secret", [message(1)]);
  // The first login runs scrypt and fills the cache; the second is answered from it.
  assert.match(await session("carol@example.org", "old secret"), /^\+OK maildrop has 1 /);
  assert.match(await session("carol@example.org", "old secret"), /^\+OK maildrop has 1 /);
  await runtime.store.accounts.setPassword(accountId, "new secret");
  assert.match(await session("carol@example.org", "old secret"), /^-ERR \[AUTH\]/);
  // That failure blocks for a moment; then the new password works, and its maildrop is free.
  await new Promise((r) => setTimeout(r, BLOCK_MS + 200));
  assert.match(await session("CAROL@example.org", "new secret"), /^\+OK maildrop has 1 /);
});

test("a throttled login with a cached password gives back the lock", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const { accountId } = await accountWithMail(runtime, "dave@example.org", "pass", [message(1), message(2)]);
  assert.match(await session("dave@example.org", "pass"), /^\+OK maildrop has 2 /);
  // One failure blocks the name; the right (cached) password is then refused as throttled…
  assert.match(await session("dave@example.org", "wrong"), /^-ERR \[AUTH\]/);
  assert.match(await session("dave@example.org", "pass"), /^-ERR \[LOGIN-DELAY\]/);
  // …and the lease it started is released long before its 60 s would run out.
  assert.ok(await lockFreeWithin(accountId, BLOCK_MS / 2), "maildrop lock left behind");
  await new Promise((r) => setTimeout(r, BLOCK_MS + 200));
  // A leftover lock would answer [IN-USE] here.
  assert.match(await session("dave@example.org", "pass"), /^\+OK maildrop has 2 /);
});

test("USER's prefetch is for its name only: PASS after a second USER checks the second name", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  await accountWithMail(runtime, "erin@example.org", "erin pass", [message(1)]);
  await accountWithMail(runtime, "frank@example.org", "frank pass", []);
  assert.match(await session("erin@example.org", "erin pass"), /^\+OK/);
  const c = await RawClient.connect(pop3.port);
  try {
    await c.line();
    assert.match(await c.cmd("USER erin@example.org"), /^\+OK/);
    assert.match(await c.cmd("USER frank@example.org"), /^\+OK/);
    // Erin's (cached) password doesn't open Frank's maildrop, and Frank's opens his.
    assert.match(await c.cmd("PASS erin pass"), /^-ERR \[AUTH\]/);
    await new Promise((r) => setTimeout(r, BLOCK_MS + 200));
    assert.match(await c.cmd("USER frank@example.org"), /^\+OK/);
    assert.match(await c.cmd("PASS frank pass"), /^\+OK maildrop has 0 /);
  } finally {
    c.destroy();
  }
});

test("a repeated login (its snapshot read with USER) lists mail delivered since, and not what the last session deleted", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const { inboxId } = await accountWithMail(runtime, "gina@example.org", "gina pass", [
    message(1),
    message(2),
  ]);
  // The first login from this IP reads the snapshot after PASS; the later ones with USER.
  assert.match(await session("gina@example.org", "gina pass"), /^\+OK maildrop has 2 /);
  const c = await RawClient.connect(pop3.port);
  try {
    assert.match(await login(c, "gina@example.org", "gina pass"), /^\+OK maildrop has 2 /);
    assert.match(await c.cmd("DELE 1"), /^\+OK/);
    assert.match(await c.cmd("QUIT"), /^\+OK .*1 messages deleted/);
  } finally {
    c.destroy();
  }
  const delivery = new Delivery({ store: runtime.store, blobs: runtime.blobs, events: runtime.events });
  await delivery.deliver(Buffer.from(message(3), "latin1"), [{ mailboxId: inboxId }]);
  const d = await RawClient.connect(pop3.port);
  try {
    assert.match(await login(d, "gina@example.org", "gina pass"), /^\+OK maildrop has 2 /);
    // Message 1 was deleted: 1 is now message 2, and 2 the one delivered since.
    assert.match(await d.cmd("TOP 1 0"), /^\+OK/);
    assert.match((await d.multiline()).toString("latin1"), /Subject: message 2/);
    assert.match(await d.cmd("TOP 2 0"), /^\+OK/);
    assert.match((await d.multiline()).toString("latin1"), /Subject: message 3/);
    assert.match(await d.cmd("QUIT"), /^\+OK/);
  } finally {
    d.destroy();
  }
});
