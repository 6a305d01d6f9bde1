/**
 * A per-IP connection count must not outlive a killed
 * SMTP-in. Two gateways (main.ts children, AEROGRAM_SERVICES=smtp-in) share
 * Redis under one prefix with a short slot lease (REDIS_SLOT_LEASE_MS). A
 * holds the IP's whole per-IP limit open, so B refuses that IP; A is kill -9ed
 * (no connection closes, no release); B must take the IP's connections again
 * once A's slots lapse, a whole limit of them and no more. With the old
 * counter (a 30-minute TTL) B kept refusing for 30 minutes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_RATE_LIMITS } from "@aerogram/smtp-in";
import {
  backendEnv,
  cleanEnv,
  createTestDatabase,
  requireServer,
  startTsProcess,
  TextClient,
  tempDir,
} from "@aerogram/testkit";
import { freePort, report, sleep } from "./support.ts";

const LEASE_MS = 3000;
const LIMIT = DEFAULT_RATE_LIMITS.connectionsPerIp;
/** The one source address this test speaks from (per-IP limits apply to it alone). */
const IP = "127.0.0.61";

/** A connection from IP: "accepted" on the 220 greeting, "refused" on the 421, either way within 20 s. */
async function connectFrom(port: number): Promise<{ client: TextClient; outcome: "accepted" | "refused" }> {
  const client = await TextClient.open(port, "127.0.0.1", IP);
  const reply = await client.expect(/^(220|421)[^\n]*\n/m, 20_000);
  return { client, outcome: reply.startsWith("220") ? "accepted" : "refused" };
}

test("a killed SMTP-in's per-IP connection slots stop counting within the slot lease", {
  timeout: 6 * 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "redis"))) return;
  const db = await createTestDatabase();
  const data = await tempDir("aerogram-crash-limits-");
  const clients: TextClient[] = [];
  const [portA, portB] = [await freePort(), await freePort()];
  const env = (port: number) =>
    cleanEnv(
      backendEnv({
        databaseUrl: db.url,
        dataDir: data.path,
        redis: true,
        settings: {
          AEROGRAM_SERVICES: "smtp-in",
          DATABASE_POOL_MAX: "2",
          REDIS_SLOT_LEASE_MS: String(LEASE_MS),
          SMTP_PORT: String(port),
          HTTP_PORT: "0",
          LOG_LEVEL: "error",
        },
      }),
    );
  // One prefix for both: they are two replicas of one deployment.
  const envA = env(portA);
  const envB = { ...env(portB), REDIS_KEY_PREFIX: envA.REDIS_KEY_PREFIX };
  const a = startTsProcess("services/aerogram/src/main.ts", [], envA);
  const b = startTsProcess("services/aerogram/src/main.ts", [], envB);
  t.after(async () => {
    for (const c of clients) c.socket.destroy();
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
    await data.remove();
    await db.drop();
  });
  // main.ts compiles at start: slow on a loaded 2-core machine.
  await Promise.all([
    a.waitFor(new RegExp(`smtp 127\\.0\\.0\\.1:${portA}`), 150_000),
    b.waitFor(new RegExp(`smtp 127\\.0\\.0\\.1:${portB}`), 150_000),
  ]);

  for (let i = 0; i < LIMIT; i++) {
    const { client, outcome } = await connectFrom(portA);
    clients.push(client);
    assert.equal(outcome, "accepted", `connection ${i + 1} of ${LIMIT} on A`);
  }
  const before = await connectFrom(portB);
  before.client.socket.destroy();
  assert.equal(before.outcome, "refused", "B counts A's connections: the IP is at its limit");

  a.child.kill("SIGKILL");
  await a.stop("SIGKILL");
  const killedAt = Date.now();
  // A's sockets are gone with it; what remains is its slots in Redis, which nobody renews now.
  let recoveredAfterMs: number | undefined;
  let probes = 0;
  while (Date.now() - killedAt < LEASE_MS + 30_000) {
    probes++;
    const probe = await connectFrom(portB);
    probe.client.socket.destroy();
    if (probe.outcome === "accepted") {
      recoveredAfterMs = Date.now() - killedAt;
      break;
    }
    await sleep(200);
  }
  assert.ok(recoveredAfterMs !== undefined, `B still refused the IP ${LEASE_MS + 30_000} ms after A's kill`);

  // Exactly a whole limit again: none of A's slots, nor B's probes, still count.
  await sleep(500); // the probes' closes (releases) are asynchronous
  let accepted = 0;
  for (;;) {
    const { client, outcome } = await connectFrom(portB);
    clients.push(client);
    if (outcome === "refused") break;
    accepted++;
    assert.ok(accepted <= LIMIT, "more connections than the per-IP limit");
  }
  report("crash-limits", {
    limit: LIMIT,
    leaseMs: LEASE_MS,
    recoveredAfterMs,
    probes,
    acceptedAfter: accepted,
  });
  assert.equal(accepted, LIMIT);
});
