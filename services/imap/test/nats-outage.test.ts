/**
 * NATS goes down (a private nats-server this file starts and kills; the
 * machine's shared one is never touched): idling sessions fall back to polling
 * Postgres and still see every change; when the bus returns, pushes resume.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { connect, createServer } from "node:net";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { createAccount, message, RawClient, startBackends, startGateway } from "./helpers.ts";

const NATS_SERVER = "/usr/sbin/nats-server";

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function startNats(port: number): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const deadline = Date.now() + 5000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (up) return child;
    if (Date.now() > deadline) throw new Error("nats-server did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The bus state, read fresh (not narrowed by earlier assertions). */
function busState(gateway: { runtime: { events: { state: string } } }): string {
  return gateway.runtime.events.state;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

test("NATS down: IDLE sessions poll and miss nothing; pushes resume when it returns", {
  timeout: 60_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!existsSync(NATS_SERVER)) {
    if (process.env.CI === "true") throw new Error(`${NATS_SERVER} is required under CI=true`);
    t.skip(`${NATS_SERVER} is not installed`);
    return;
  }
  const port = await freePort();
  let nats = await startNats(port);
  const backends = await startBackends();
  backends.env.NATS_URL = `nats://127.0.0.1:${port}`;
  backends.env.NATS_SUBJECT_PREFIX = "outage";
  const watcherGateway = await startGateway(backends);
  const actorGateway = await startGateway(backends);
  try {
    const account = await createAccount(watcherGateway.runtime);
    const watcher = await RawClient.connect(watcherGateway.port);
    assert.match(await watcher.login(account.user, account.pass), /OK/);
    assert.match(await watcher.command("SELECT INBOX"), /OK/);
    const actor = await RawClient.connect(actorGateway.port);
    assert.match(await actor.login(account.user, account.pass), /OK/);
    watcher.write("i IDLE\r\n");
    await watcher.readUntil((s) => s.includes("+ idling"));
    watcher.take();

    await kill(nats);
    const deadline = Date.now() + 10_000;
    while (busState(watcherGateway) !== "disconnected" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(busState(watcherGateway), "disconnected");
    const text = message("during outage");
    actor.write(`a APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await actor.response("a"), /OK/);
    // The event is dropped; the poll tick (2 s while the bus is down) finds it.
    await watcher.readUntil((s) => /\* 1 EXISTS\r\n/.test(s), 6000);
    watcher.take();

    nats = await startNats(port);
    const back = Date.now() + 15_000;
    while (
      (busState(watcherGateway) !== "connected" || busState(actorGateway) !== "connected") &&
      Date.now() < back
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(busState(watcherGateway), "connected");
    await new Promise((r) => setTimeout(r, 500)); // resubscription settles
    actor.write(`b APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await actor.response("b"), /OK/);
    const started = Date.now();
    await watcher.readUntil((s) => /\* 2 EXISTS\r\n/.test(s), 5000);
    assert.ok(Date.now() - started < 1900, `pushed, not polled (${Date.now() - started} ms)`);
    watcher.take();
    // A publisher that reconnects later than this gateway loses what it publishes
    // meanwhile: for a grace period after reconnecting the gateway still polls every
    // 2 s (not every 30 s). A change with no event at all stands in for that.
    const inbox = await actorGateway.runtime.store.mailboxes.byName(account.id, "INBOX");
    const blob = await actorGateway.runtime.blobs.putBuffer(Buffer.from(message("late publisher")));
    await actorGateway.runtime.store.messages.append([
      { mailboxId: inbox!.id, messages: [{ blobKey: blob.key, size: blob.size }] },
    ]);
    await watcher.readUntil((s) => /\* 3 EXISTS\r\n/.test(s), 8000);
    watcher.write("DONE\r\n");
    assert.match(await watcher.response("i"), /OK/);
    watcher.close();
    actor.close();
  } finally {
    await watcherGateway.close();
    await actorGateway.close();
    await kill(nats);
    await backends.stop();
  }
});
