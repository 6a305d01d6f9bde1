/**
 * App passwords over IMAP (issue 23), two gateway processes on the same
 * Postgres, s3rver, NATS and Redis: gateway A in this process (where the admin
 * operations run and publish), gateway B a real child process
 * (`AEROGRAM_SERVICES=imap`). An IDLE session on B logged in with an app
 * password is closed with BYE when the app password is revoked through A; the
 * revoked secret, a secret scoped to another protocol and (with "require app
 * passwords") the main password are refused.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { revokeSessions } from "@aerogram/auth";
import {
  cleanEnv,
  type RunningProcess,
  requireServer,
  runTsProcess,
  TEST_REDIS_URL,
} from "@aerogram/testkit";
import {
  type Backends,
  createAccount,
  type Gateway,
  RawClient,
  startBackends,
  startGateway,
  startGatewayProcess,
} from "./helpers.ts";

const _MAIN = "services/aerogram/src/main.ts";
const MAILCTL = "services/admin/src/mailctl.ts";

let backends: Backends;
let gatewayA: Gateway;
let gatewayB: RunningProcess | undefined;

before(async () => {
  backends = await startBackends({ nats: true });
  gatewayA = await startGateway(backends);
});
after(async () => {
  await gatewayB?.stop("SIGTERM");
  await gatewayA?.close();
  await backends?.stop();
});

async function startGatewayB(): Promise<number> {
  const started = await startGatewayProcess(backends);
  gatewayB = started.process;
  return started.port;
}

async function login(
  port: number,
  user: string,
  pass: string,
): Promise<{ client: RawClient; reply: string }> {
  const client = await RawClient.connect(port);
  const reply = await client.login(user, pass);
  return { client, reply };
}

test("revoking an app password closes an IDLE session on another gateway process; scopes and require-app-passwords hold", {
  timeout: 120_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  const portB = await startGatewayB();
  const store = gatewayA.runtime.store;
  const account = await createAccount(gatewayA.runtime);
  // What the admin API / mailctl do (services/admin identity-ops.ts): revoke, then tell every replica.
  const revoke = async (name: string) => {
    assert.equal(await store.appPasswords.revoke(account.id, name), true);
    revokeSessions(gatewayA.runtime.events, account.id);
  };
  const { secret } = await store.appPasswords.create(account.id, "thunderbird", ["imap"]);
  const { secret: popOnly } = await store.appPasswords.create(account.id, "phone", ["pop3"]);
  assert.match(secret, /^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$/);

  // Scoped to POP3: refused on IMAP.
  const scoped = await login(portB, account.user, popOnly);
  assert.match(scoped.reply, /NO \[AUTHENTICATIONFAILED\]/);
  scoped.client.close();

  const { client: watcher, reply } = await login(portB, account.user, secret);
  assert.match(reply, /OK/);
  // A second session on gateway A with the main password: also ended (the account's sessions, everywhere).
  const { client: other, reply: otherReply } = await login(gatewayA.port, account.user, account.pass);
  assert.match(otherReply, /OK/);
  try {
    assert.match(await watcher.command("SELECT INBOX"), /OK \[READ-WRITE\]/);
    watcher.write("idle IDLE\r\n");
    await watcher.readUntil((s) => s.includes("+ idling\r\n"));
    watcher.take();

    const listed = await store.appPasswords.list(account.id);
    const used = listed.find((p) => p.name === "thunderbird");
    assert.ok(used?.lastUsedAt, "the login recorded its use");
    assert.equal(used?.lastUsedIp, "127.0.0.1");

    await revoke("thunderbird");
    const bye = await watcher.readUntil((s) => s.includes("* BYE"), 15_000);
    assert.match(bye, /\* BYE Session ended: the account's credentials changed\r\n/);
    await watcher.readUntil(() => watcher.closed, 15_000);
    assert.ok(watcher.closed, "B closed the connection");
    await other.readUntil((s) => s.includes("* BYE"), 15_000);

    const again = await login(portB, account.user, secret);
    assert.match(again.reply, /NO \[AUTHENTICATIONFAILED\]/, "a revoked app password no longer logs in");
    again.client.close();
    const revoked = (await store.appPasswords.list(account.id)).find((p) => p.name === "thunderbird");
    assert.ok(revoked?.revokedAt, "kept, marked revoked");

    // Require app passwords: the main password stops working for IMAP; a live app password still does.
    const { secret: fresh } = await store.appPasswords.create(account.id, "laptop", ["imap", "submission"]);
    await store.accounts.setRequireAppPasswords(account.id, true);
    const main = await login(portB, account.user, account.pass);
    assert.match(main.reply, /NO \[AUTHENTICATIONFAILED\]/);
    main.client.close();
    const app = await login(portB, account.user, fresh.toUpperCase().replaceAll("-", ""));
    assert.match(app.reply, /OK/, "case and dashes don't matter");
    app.client.close();
  } finally {
    watcher.close();
    other.close();
  }
});

test("mailctl app-password revoke (its own process, over NATS) closes an IDLE session on gateway process B", {
  timeout: 120_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  const portB = gatewayB
    ? Number(/IMAP\s+127\.0\.0\.1:(\d+)/.exec(gatewayB.stdout())?.[1])
    : await startGatewayB();
  const env = cleanEnv({ ...backends.env, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: "silent" });
  const account = await createAccount(gatewayA.runtime);
  const added = await runTsProcess(
    MAILCTL,
    ["app-password", "add", account.user, "tablet", "--protocols", "imap"],
    env,
  );
  assert.equal(added.code, 0, added.stderr);
  const secret = /: ([a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4})$/m.exec(added.stdout)?.[1];
  assert.ok(secret, added.stdout);

  const { client, reply } = await login(portB, account.user, secret);
  assert.match(reply, /OK/);
  try {
    assert.match(await client.command("SELECT INBOX"), /OK \[READ-WRITE\]/);
    client.write("idle IDLE\r\n");
    await client.readUntil((s) => s.includes("+ idling\r\n"));
    const revoked = await runTsProcess(MAILCTL, ["app-password", "revoke", account.user, "tablet"], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    await client.readUntil((s) => s.includes("* BYE"), 15_000);
    await client.readUntil(() => client.closed, 15_000);
    assert.ok(client.closed);
    const listed = await runTsProcess(MAILCTL, ["app-password", "list", account.user], env);
    assert.match(
      listed.stdout,
      /^tablet {2}imap {2}created .* last used .* from 127\.0\.0\.1 {2}\(revoked /m,
    );
  } finally {
    client.close();
  }
});
