/**
 * Live updates across sessions and gateway processes: two gateways on
 * the same Postgres, S3 and NATS; a change made through one shows up as untagged
 * EXISTS / FETCH / EXPUNGE in a session of the other — pushed at once in IDLE,
 * and reported by the next command otherwise. Deferred EXPUNGE during FETCH by
 * sequence number (RFC 9051 §7.5.1); a change whose event is lost is still reported.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import {
  type Backends,
  createAccount,
  type Gateway,
  message,
  RawClient,
  startBackends,
  startGateway,
} from "./helpers.ts";

let backends: Backends;
let left: Gateway;
let right: Gateway;

before(async () => {
  backends = await startBackends({ nats: true });
  left = await startGateway(backends);
  right = await startGateway(backends);
});
after(async () => {
  await left?.close();
  await right?.close();
  await backends?.stop();
});

async function session(gateway: Gateway, user: string, pass: string, mailbox = "INBOX"): Promise<RawClient> {
  const client = await RawClient.connect(gateway.port);
  assert.match(await client.login(user, pass), /OK/);
  assert.match(await client.command(`SELECT ${mailbox}`), /OK \[READ-WRITE\]/);
  return client;
}

/** APPENDs through a session that has INBOX selected: its own EXISTS comes with the reply. */
async function append(client: RawClient, subject: string): Promise<void> {
  const text = message(subject);
  client.write(`ap APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
  assert.match(await client.response("ap"), /\* \d+ EXISTS\r\n[\s\S]*ap OK/);
}

test("IDLE in one gateway sees APPEND, STORE and EXPUNGE made through the other, at once", async (t) => {
  if (!(await requireServer(t, "postgres")) || !(await requireServer(t, "nats"))) return;
  const account = await createAccount(left.runtime);
  const watcher = await session(left, account.user, account.pass);
  const actor = await session(right, account.user, account.pass);
  try {
    watcher.write("idle IDLE\r\n");
    await watcher.readUntil((s) => s.includes("+ idling"));
    watcher.take();

    // Timed from the APPEND's OK: on a loaded CI machine the APPEND itself can take
    // seconds. 5 s is far below the 30 s poll that would otherwise find the change.
    await append(actor, "pushed");
    const started = Date.now();
    await watcher.readUntil((s) => /\* 1 EXISTS\r\n/.test(s), 5000);
    assert.ok(Date.now() - started < 5000, "pushed by the event, not a 30 s poll");

    assert.match(await actor.command("STORE 1 +FLAGS (\\Flagged)"), /OK/);
    await watcher.readUntil((s) => /\* 1 FETCH \(UID 1 FLAGS \(\\Flagged[^)]*\)\)/.test(s), 5000);

    assert.match(await actor.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), /OK/);
    assert.match(await actor.command("EXPUNGE"), /\* 1 EXPUNGE/);
    await watcher.readUntil((s) => /\* 1 EXPUNGE\r\n/.test(s), 5000);

    watcher.write("DONE\r\n");
    assert.match(await watcher.response("idle"), /idle OK IDLE terminated/);
  } finally {
    watcher.close();
    actor.close();
  }
});

test("between commands: the next command reports changes; EXPUNGE is deferred during FETCH", async (t) => {
  if (!(await requireServer(t, "postgres")) || !(await requireServer(t, "nats"))) return;
  const account = await createAccount(left.runtime);
  const a = await session(left, account.user, account.pass);
  const b = await session(right, account.user, account.pass);
  try {
    await append(b, "one");
    await append(b, "two");
    assert.match(await a.command("NOOP"), /\* 2 EXISTS/);

    assert.match(await b.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), /OK/);
    assert.match(await b.command("EXPUNGE"), /\* 1 EXPUNGE/);

    // FETCH uses sequence numbers: the expunge must wait; message 2 is still 2.
    const fetched = await a.command("FETCH 2 (UID ENVELOPE)");
    assert.doesNotMatch(fetched, /\* \d+ EXPUNGE/);
    assert.match(fetched, /\* 2 FETCH \(UID 2 ENVELOPE \("[^"]*" "two"/);
    // The expunged message: the view still has it, the data is gone — a sensible NO.
    const gone = await a.command("FETCH 1 (UID FLAGS)");
    assert.doesNotMatch(gone, /\* \d+ EXPUNGE/);
    assert.match(gone, /t\d+ OK \[EXPUNGEISSUED\]/);
    // A command that allows renumbering delivers it.
    assert.match(await a.command("NOOP"), /\* 1 EXPUNGE\r\n/);
    assert.match(await a.command("FETCH 1 (UID)"), /\* 1 FETCH \(UID 2\)/);
  } finally {
    a.close();
    b.close();
  }
});

test("a change whose event was lost is still reported by the next command", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const account = await createAccount(left.runtime);
  const a = await session(left, account.user, account.pass);
  try {
    // Write straight to the store: no event is published at all.
    const inbox = await left.runtime.store.mailboxes.byName(account.id, "INBOX");
    const blob = await left.runtime.blobs.putBuffer(Buffer.from(message("silent")));
    await left.runtime.store.messages.append([
      { mailboxId: inbox!.id, messages: [{ blobKey: blob.key, size: blob.size }] },
    ]);
    assert.match(await a.command("NOOP"), /\* 1 EXISTS/);
  } finally {
    a.close();
  }
});

test("idle sessions fall back to polling when events don't arrive", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const account = await createAccount(left.runtime);
  const a = await session(left, account.user, account.pass);
  try {
    a.write("idle IDLE\r\n");
    await a.readUntil((s) => s.includes("+ idling"));
    const inbox = await left.runtime.store.mailboxes.byName(account.id, "INBOX");
    const blob = await left.runtime.blobs.putBuffer(Buffer.from(message("no event")));
    await left.runtime.store.messages.append([
      { mailboxId: inbox!.id, messages: [{ blobKey: blob.key, size: blob.size }] },
    ]);
    // No event was published; the server's poll tick (every 30 s while the bus is
    // up) finds the change. Force a tick as if the bus were down.
    left.server.pollNow();
    await a.readUntil((s) => /\* 1 EXISTS\r\n/.test(s), 3000);
    a.write("DONE\r\n");
    assert.match(await a.response("idle"), /OK/);
  } finally {
    a.close();
  }
});
