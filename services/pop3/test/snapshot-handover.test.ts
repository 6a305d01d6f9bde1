/**
 * A login reads its snapshot while its lock request is still out, and keeps
 * that read only when it already includes the deletions of the session that
 * held the maildrop before (the lock's handover, Maildrop.open). Otherwise a
 * client could be shown messages the previous session had just deleted, and
 * download them twice.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Runtime } from "@aerogram/runtime";
import { cleanEnv, startTsProcess } from "@aerogram/testkit";
import { createPop3Service, type Pop3Service } from "../src/index.ts";
import { Maildrop, type MaildropDeps, maildropLockKey } from "../src/maildrop.ts";
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

const GATEWAY = "services/pop3/test/fixtures/gateway.ts";

let backends: TestBackends | undefined;
let runtime: Runtime;
let pop3: Pop3Service;
let deps: MaildropDeps;

before(async () => {
  if (!(await serversReachable(["postgres", "redis"]))) return;
  backends = await startBackends({ redis: true });
  runtime = await openRuntime(backends);
  pop3 = await createPop3Service(runtime, { host: "127.0.0.1", port: 0 });
  deps = {
    store: runtime.store,
    blobs: runtime.blobs,
    events: runtime.events,
    limits: runtime.limits,
    log: runtime.log,
  };
});

after(async () => {
  if (!backends) return;
  await pop3.drain(100);
  await runtime.close();
  await backends.stop();
});

test("a snapshot read before the previous session's commit is read again under the lock", async (t) => {
  if (!(await requireServers(t, ["postgres", "redis"]))) return;
  const { accountId } = await accountWithMail(
    runtime,
    "race@example.org",
    "pw",
    [1, 2, 3].map((n) => message(n)),
  );
  const first = await Maildrop.open(deps, Maildrop.start(deps, accountId, 10_000));
  assert.ok(first.ok);
  assert.equal(first.reread, false, "nobody committed before: the read alongside the lock is used");
  // A second login's read, made while the first session still holds the maildrop…
  const early = deps.store.pop3.inboxSnapshot(accountId);
  assert.equal((await early)?.messages.length, 3);
  // …then the first session deletes a message and leaves.
  first.maildrop.message(1)!.deleted = true;
  assert.equal(await first.maildrop.commit(), 1);
  await first.maildrop.release();

  const locking = deps.limits.acquire(maildropLockKey(accountId), 10_000);
  const second = await Maildrop.open(deps, { accountId, leaseMs: 10_000, locking, reading: early });
  assert.ok(second.ok);
  assert.equal(second.reread, true);
  assert.equal(second.maildrop.messages.length, 2, "the deleted message is not listed again");
  assert.deepEqual(
    second.maildrop.messages.map((m) => m.uid),
    first.maildrop.messages.slice(1).map((m) => m.uid),
  );
  await second.maildrop.release();

  // A read made after that commit is used as it is.
  const third = await Maildrop.open(deps, Maildrop.start(deps, accountId, 10_000));
  assert.ok(third.ok);
  assert.equal(third.reread, false);
  assert.equal(third.maildrop.messages.length, 2);
  await third.maildrop.release();
});

/**
 * Logs in again while the answer is [IN-USE]: QUIT answers before the other
 * replica can see the release (it doesn't wait for Redis), so a login right
 * after it there may find the maildrop still locked for a moment.
 */
async function admitted(c: RawClient, answer: string): Promise<string> {
  while (/^-ERR \[IN-USE\]/.test(answer)) {
    assert.match(await c.cmd("USER relay@example.org"), /^\+OK/);
    answer = await c.cmd("PASS pw");
  }
  return answer;
}

test("over sockets, across two replicas: a login racing the previous session's QUIT never lists what it deleted", {
  timeout: 120_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres", "redis"]))) return;
  // Within one process a login's lock request and the previous session's
  // release share one Redis connection, so their order is the order they were
  // sent in; across replicas it is not, which is where a read can be stale.
  const replica = startTsProcess(GATEWAY, [], cleanEnv(backends!.env));
  t.after(() => replica.stop("SIGKILL"));
  const [, replicaPort] = await replica.waitFor(/pop3 port (\d+)/, 60_000);
  const ports = [pop3.port, Number(replicaPort)];
  const ROUNDS = 60;
  await accountWithMail(
    runtime,
    "relay@example.org",
    "pw",
    Array.from({ length: ROUNDS + 1 }, (_, i) => message(i + 1)),
  );
  // Fills both verified-login caches, so later logins start the lock request and the read at once.
  for (const port of ports) {
    const warm = await RawClient.connect(port);
    assert.match(await admitted(warm, await login(warm, "relay@example.org", "pw")), /^\+OK/);
    await warm.cmd("QUIT");
    warm.destroy();
  }

  let expected = ROUNDS + 1;
  let holder = await RawClient.connect(ports[0]!);
  assert.match(
    await admitted(holder, await login(holder, "relay@example.org", "pw")),
    new RegExp(`^\\+OK maildrop has ${expected} `),
  );
  for (let round = 0; round < ROUNDS; round++) {
    assert.match(await holder.cmd("DELE 1"), /^\+OK/);
    const next = await RawClient.connect(ports[(round + 1) % 2]!);
    await next.line();
    assert.match(await next.cmd("USER relay@example.org"), /^\+OK/);
    // The next PASS follows QUIT after 0 to 3 ms of event-loop turns (the
    // in-process gateway runs meanwhile; a commit takes about 2 ms here), so
    // across the rounds its read lands before, during and after the commit.
    const quitting = holder.cmd("QUIT");
    const sendAt = performance.now() + (round % 30) * 0.1;
    while (performance.now() < sendAt) await new Promise((r) => setImmediate(r));
    const answer = await next.cmd("PASS pw");
    assert.match(await quitting, /^\+OK .*1 messages deleted/);
    holder.destroy();
    expected--;
    assert.match(
      await admitted(next, answer),
      new RegExp(`^\\+OK maildrop has ${expected} `),
      `round ${round}`,
    );
    holder = next;
  }
  await holder.cmd("QUIT");
  holder.destroy();
  const rereads = await runtime.metrics.getSingleMetric("aerogram_pop3_snapshot_rereads_total")?.get();
  t.diagnostic(`in-process replica: ${rereads?.values[0]?.value ?? 0} logins read their snapshot again`);
});
