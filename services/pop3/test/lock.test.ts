/**
 * The maildrop lock across replicas (RFC 1939 §8): two gateway processes on
 * the same Postgres, S3 and Redis. A session on one makes the other answer
 * [IN-USE]; kill -9 of the holder mid-session loses no mail (its DELE marks
 * die with it) and its lease expires by itself, after which the other replica
 * serves the maildrop.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Runtime } from "@aerogram/runtime";
import { cleanEnv, type RunningProcess, startTsProcess } from "@aerogram/testkit";
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
const LEASE_MS = 1500;

let backends: TestBackends | undefined;
let runtime: Runtime;
const gateways: RunningProcess[] = [];

before(async () => {
  if (!(await serversReachable(["postgres", "redis"]))) return;
  backends = await startBackends({ redis: true });
  runtime = await openRuntime(backends);
});

after(async () => {
  for (const g of gateways) await g.stop("SIGKILL");
  if (!backends) return;
  await runtime.close();
  await backends.stop();
});

async function startGateway(): Promise<{ process: RunningProcess; port: number }> {
  const p = startTsProcess(GATEWAY, [], cleanEnv({ ...backends!.env, POP3_TEST_LEASE_MS: String(LEASE_MS) }));
  gateways.push(p);
  const [, port] = await p.waitFor(/pop3 port (\d+)/, 60_000);
  return { process: p, port: Number(port) };
}

test("one session per maildrop across two gateway processes; kill -9 loses nothing and the lease expires", {
  timeout: 120_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres", "redis"]))) return;
  const { inboxId } = await accountWithMail(runtime, "lock@example.org", "pw", [message(1), message(2)]);
  const [a, b] = await Promise.all([startGateway(), startGateway()]);

  const onA = await RawClient.connect(a.port);
  assert.match(await login(onA, "lock@example.org", "pw"), /^\+OK maildrop has 2/);
  assert.match(await onA.cmd("DELE 1"), /^\+OK/);
  assert.match(await onA.cmd("RETR 2"), /^\+OK/);
  assert.equal((await onA.multiline()).toString(), message(2));

  // The other replica refuses while A's session holds the lease (renewed well past its length).
  const onB = await RawClient.connect(b.port);
  assert.match(await login(onB, "lock@example.org", "pw"), /^-ERR \[IN-USE\]/);
  await new Promise((r) => setTimeout(r, LEASE_MS * 1.5));
  assert.match(await onB.cmd("USER lock@example.org"), /^\+OK/);
  assert.match(await onB.cmd("PASS pw"), /^-ERR \[IN-USE\]/, "renewal keeps the lease");

  // kill -9 the holder mid-session: nothing applied, and nobody released the lease.
  a.process.child.kill("SIGKILL");
  await onA.waitClosed();
  assert.equal((await runtime.store.messages.listUids(inboxId)).length, 2, "mail intact");

  const started = Date.now();
  let answer = "";
  while (Date.now() - started < LEASE_MS * 4) {
    assert.match(await onB.cmd("USER lock@example.org"), /^\+OK/);
    answer = await onB.cmd("PASS pw");
    if (answer.startsWith("+OK")) break;
    assert.match(answer, /^-ERR \[IN-USE\]/);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(answer, /^\+OK maildrop has 2 messages/, "the lease expired by itself");
  assert.ok(Date.now() - started <= LEASE_MS * 4);

  // B's session works normally and its QUIT applies its own deletes.
  assert.match(await onB.cmd("DELE 2"), /^\+OK/);
  assert.match(await onB.cmd("QUIT"), /^\+OK .*1 messages deleted/);
  assert.deepEqual(
    (await runtime.store.messages.listUids(inboxId)).map((m) => m.uid),
    [1],
  );
  assert.equal(await b.process.stop("SIGTERM"), 0);
});
