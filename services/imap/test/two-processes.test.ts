/**
 * Two gateway processes: gateway A runs in this process, gateway B is
 * a real child process (`AEROGRAM_SERVICES=imap`, the entry point a Deployment
 * runs) on the same Postgres, s3rver, NATS and Redis. Changes made through A
 * reach an IDLE session on B as untagged EXISTS / FETCH / EXPUNGE over NATS,
 * and a change whose event was never published is reported by B's next command.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type RunningProcess, requireServer } from "@aerogram/testkit";
import {
  type Backends,
  createAccount,
  type Gateway,
  message,
  RawClient,
  startBackends,
  startGateway,
  startGatewayProcess,
} from "./helpers.ts";

let backends: Backends;
let gatewayA: Gateway;
let gatewayB: RunningProcess | undefined;
let portB = 0;

before(async () => {
  backends = await startBackends({ nats: true });
  gatewayA = await startGateway(backends);
});
after(async () => {
  await gatewayB?.stop("SIGTERM");
  await gatewayA?.close();
  await backends?.stop();
});

const HEAD_MAX_STALE_MS = 300;

async function startGatewayB(): Promise<number> {
  const started = await startGatewayProcess(backends, {
    // How long B trusts a mailbox read without an event (mailbox-heads.ts).
    IMAP_HEAD_MAX_STALE_MS: String(HEAD_MAX_STALE_MS),
  });
  gatewayB = started.process;
  return started.port;
}

async function session(port: number, user: string, pass: string): Promise<RawClient> {
  const client = await RawClient.connect(port);
  assert.match(await client.login(user, pass), /OK/);
  assert.match(await client.command("SELECT INBOX"), /OK \[READ-WRITE\]/);
  return client;
}

test("a change through gateway A reaches an IDLE session on gateway process B; a lost event is caught at the next command after IMAP_HEAD_MAX_STALE_MS", {
  timeout: 120_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  if (!(await requireServer(t, "nats"))) return;
  if (!(await requireServer(t, "redis"))) return;
  portB = await startGatewayB();
  const account = await createAccount(gatewayA.runtime);
  const watcher = await session(portB, account.user, account.pass);
  const actor = await session(gatewayA.port, account.user, account.pass);
  try {
    watcher.write("idle IDLE\r\n");
    await watcher.readUntil((s) => s.includes("+ idling\r\n"));
    watcher.take();

    // APPEND through A → EXISTS pushed to B's IDLE session (by the event: the
    // poll fallback runs only every 30 s while NATS is up, far beyond this wait).
    const text = message("across processes");
    actor.write(`ap APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await actor.response("ap"), /\* 1 EXISTS\r\n[\s\S]*ap OK \[APPENDUID \d+ 1\]/);
    await watcher.readUntil((s) => s.includes("* 1 EXISTS\r\n"), 15_000);

    assert.match(await actor.command("STORE 1 +FLAGS (\\Flagged)"), /\* 1 FETCH \(FLAGS \(\\Flagged/);
    await watcher.readUntil((s) => /\* 1 FETCH \(UID 1 FLAGS \(\\Flagged[^)]*\)\)\r\n/.test(s), 15_000);

    assert.match(await actor.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), /OK/);
    assert.match(await actor.command("EXPUNGE"), /\* 1 EXPUNGE\r\n/);
    await watcher.readUntil((s) => s.includes("* 1 EXPUNGE\r\n"), 15_000);
    watcher.write("DONE\r\n");
    assert.match(await watcher.response("idle"), /idle OK IDLE terminated/);

    // Written straight to the store: no event at all. Once B's last read of the
    // mailbox is older than the bound, B's next command reads the change log in
    // Postgres and reports it (the bound is what a lost event can delay).
    const inbox = await gatewayA.runtime.store.mailboxes.byName(account.id, "INBOX");
    const blob = await gatewayA.runtime.blobs.putBuffer(Buffer.from(message("no event")));
    await gatewayA.runtime.store.messages.append([
      { mailboxId: inbox!.id, messages: [{ blobKey: blob.key, size: blob.size }] },
    ]);
    await new Promise((r) => setTimeout(r, HEAD_MAX_STALE_MS + 100));
    assert.match(await watcher.command("NOOP", "n1"), /^\* 1 EXISTS\r\n(\* 1 RECENT\r\n)?n1 OK NOOP/);
    assert.match(await watcher.command("UID FETCH 1:* (UID)", "f1"), /^\* 1 FETCH \(UID 2\)\r\nf1 OK/);
  } finally {
    watcher.close();
    actor.close();
  }
});
