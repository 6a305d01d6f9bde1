/**
 * Hibernated IDLE sessions (hibernate.ts) behave exactly like live ones, over
 * real sockets: new mail is pushed while asleep (EXISTS, RECENT) without waking;
 * a flag change or an expunge wakes the session, whose rebuilt view reports it
 * with the right sequence numbers; DONE (alone or with a pipelined command), a
 * command after it, a dropped connection (its per-account slot comes back),
 * autologout, a deleted mailbox and an implicit-TLS connection.
 *
 * Hibernation is forced with hibernateIdlers() (the delay is an hour here), so
 * nothing depends on timing; waits are for conditions, with generous deadlines.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { revokeSessions } from "@aerogram/auth";
import type { ImapLimits } from "@aerogram/config";
import type { Runtime } from "@aerogram/runtime";
import { requireServer, selfSignedCertificate, tempDir } from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";
import { type Backends, createAccount, message, RawClient, startBackends } from "./helpers.ts";

let backends: Backends;
let certs: { certFile: string; keyFile: string };
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  backends = await startBackends();
  const dir = await tempDir("imap-hibernate");
  cleanups.push(() => dir.remove());
  certs = selfSignedCertificate(dir.path, "localhost");
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await backends?.stop();
});

interface Hgw {
  runtime: Runtime;
  server: ImapServer;
  port: number;
  tlsPort: number | null;
}

async function gateway(
  opts: { limits?: Partial<ImapLimits>; maxSessionsPerAccount?: number; tls?: boolean } = {},
): Promise<Hgw> {
  const runtime = await backends.runtime("imap-hibernate", {
    IMAP_PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    ...(opts.tls ? { TLS_CERT_FILE: certs.certFile, TLS_KEY_FILE: certs.keyFile } : {}),
  });
  const server = new ImapServer(runtime, {
    limits: { hibernateAfterMs: 3_600_000, ...opts.limits },
    ...(opts.maxSessionsPerAccount ? { maxSessionsPerAccount: opts.maxSessionsPerAccount } : {}),
  });
  const endpoints = await server.listen({ port: 0, host: "127.0.0.1", ...(opts.tls ? { tlsPort: 0 } : {}) });
  cleanups.push(async () => {
    server.close();
    await runtime.close();
  });
  const portOf = (prefix: string) => {
    const line = endpoints.find((e) => e.startsWith(prefix));
    return line ? Number(/:(\d+)/.exec(line)![1]) : null;
  };
  return { runtime, server, port: portOf("IMAP ")!, tlsPort: portOf("IMAPS") };
}

let shared: Hgw | undefined;
async function sharedGateway(): Promise<Hgw> {
  shared ??= await gateway();
  return shared;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Hibernates idlers until `count` are asleep (an IDLE's first sync must finish before it can). */
async function hibernate(server: ImapServer, count: number): Promise<void> {
  await until(`${count} hibernated sessions`, () => {
    server.hibernation.hibernateIdlers();
    return server.hibernation.size >= count;
  });
}

async function selected(port: number, user: string, pass: string, enable?: string): Promise<RawClient> {
  const client = await loggedIn(port, user, pass);
  if (enable) assert.match(await client.command(`ENABLE ${enable}`), /OK/);
  assert.match(await client.command("SELECT INBOX"), /OK \[READ-WRITE\]/);
  return client;
}

async function loggedIn(port: number, user: string, pass: string): Promise<RawClient> {
  const client = await RawClient.connect(port);
  assert.match(await client.login(user, pass), /OK/);
  return client;
}

async function append(client: RawClient, subject: string): Promise<void> {
  const text = message(subject);
  client.write(`ap APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
  assert.match(await client.response("ap"), /ap OK/);
}

async function startIdle(client: RawClient, tag = "idle"): Promise<void> {
  client.write(`${tag} IDLE\r\n`);
  await client.readUntil((s) => s.includes("+ idling\r\n"));
  client.take();
}

test("new mail while hibernated: EXISTS and RECENT without waking; DONE and the next command after it", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const gw = await sharedGateway();
  const account = await createAccount(gw.runtime);
  const watcher = await selected(gw.port, account.user, account.pass);
  // Not selected: the watcher's sync is the one that claims the new messages as \Recent.
  const actor = await loggedIn(gw.port, account.user, account.pass);
  try {
    await startIdle(watcher);
    const before = gw.server.hibernation.stats.answeredAsleep;
    await hibernate(gw.server, 1);
    assert.equal(gw.server.connections, 2, "a hibernated session still counts as a connection");

    await append(actor, "first");
    await watcher.readUntil((s) => /\* 1 EXISTS\r\n\* 1 RECENT\r\n/.test(s));
    await append(actor, "second");
    await watcher.readUntil((s) => /\* 2 EXISTS\r\n\* 2 RECENT\r\n/.test(s));
    assert.equal(gw.server.hibernation.size, 1, "new mail is answered asleep");
    assert.ok(gw.server.hibernation.stats.answeredAsleep >= before + 2);
    watcher.take();

    watcher.write("DONE\r\n");
    assert.match(await watcher.response("idle"), /^idle OK IDLE terminated\r\n$/);
    assert.equal(gw.server.hibernation.size, 0);
    const fetched = await watcher.command("FETCH 1:* (UID FLAGS)");
    assert.match(
      fetched,
      /\* 1 FETCH \(UID 1 FLAGS \(\\Recent\)\)\r\n\* 2 FETCH \(UID 2 FLAGS \(\\Recent\)\)\r\n/,
    );
    assert.match(fetched, /OK/);
    // The session idles again, hibernates again and is still told about new mail.
    await startIdle(watcher, "idle2");
    await hibernate(gw.server, 1);
    await append(actor, "third");
    await watcher.readUntil((s) => /\* 3 EXISTS\r\n/.test(s));
    watcher.write("DONE\r\n");
    assert.match(await watcher.response("idle2"), /idle2 OK/);
  } finally {
    watcher.close();
    actor.close();
  }
});

test("a flag change while hibernated wakes the session and is pushed as FETCH (with MODSEQ under CONDSTORE)", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const gw = await sharedGateway();
  const account = await createAccount(gw.runtime);
  const actor = await selected(gw.port, account.user, account.pass);
  await append(actor, "one");
  await append(actor, "two");
  const watcher = await selected(gw.port, account.user, account.pass, "CONDSTORE");
  try {
    await startIdle(watcher);
    await hibernate(gw.server, 1);
    assert.match(await actor.command("STORE 2 +FLAGS (\\Flagged)"), /OK/);
    const pushed = await watcher.readUntil((s) =>
      /\* 2 FETCH \(UID 2 FLAGS \([^)]*\) MODSEQ \(\d+\)\)\r\n/.test(s),
    );
    assert.match(pushed, /FLAGS \([^)]*\\Flagged/);
    assert.doesNotMatch(pushed, /\* 1 FETCH/, "only the changed message");
    assert.equal(gw.server.hibernation.size, 0, "woken up");
    watcher.take();
    // A keyword nobody had: FLAGS is announced before the FETCH, as a live session does.
    await hibernate(gw.server, 1);
    assert.match(await actor.command("STORE 1 +FLAGS ($Hibernated)"), /OK/);
    await watcher.readUntil((s) =>
      /\* FLAGS \([^)]*\$Hibernated[^)]*\)[\s\S]*\* 1 FETCH \(UID 1 FLAGS \([^)]*\$Hibernated/.test(s),
    );
    watcher.write("DONE\r\n");
    assert.match(await watcher.response("idle"), /idle OK/);
    assert.match(await watcher.command("FETCH 2 (FLAGS)"), /\* 2 FETCH \(FLAGS \([^)]*\\Flagged[^)]*\)\)/);
  } finally {
    watcher.close();
    actor.close();
  }
});

test("an expunge while hibernated wakes the session: EXPUNGE with the right sequence number", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const gw = await sharedGateway();
  const account = await createAccount(gw.runtime);
  const actor = await selected(gw.port, account.user, account.pass);
  for (const s of ["a", "b", "c"]) await append(actor, s);
  const watcher = await selected(gw.port, account.user, account.pass);
  try {
    await startIdle(watcher);
    await hibernate(gw.server, 1);
    // New mail first (answered asleep), then the expunge of the second message.
    await append(actor, "d");
    await watcher.readUntil((s) => /\* 4 EXISTS\r\n/.test(s));
    assert.match(await actor.command("STORE 2 +FLAGS.SILENT (\\Deleted)"), /OK/);
    assert.match(await actor.command("EXPUNGE"), /\* 2 EXPUNGE/);
    await watcher.readUntil((s) => /\* 2 EXPUNGE\r\n/.test(s));
    watcher.write("DONE\r\n");
    assert.match(await watcher.response("idle"), /idle OK/);
    const uids = await watcher.command("FETCH 1:* (UID)");
    assert.match(uids, /\* 1 FETCH \(UID 1\)\r\n\* 2 FETCH \(UID 3\)\r\n\* 3 FETCH \(UID 4\)\r\n/);
  } finally {
    watcher.close();
    actor.close();
  }
});

test("DONE with a pipelined command wakes the session and both are answered in order", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const gw = await sharedGateway();
  const account = await createAccount(gw.runtime);
  const actor = await selected(gw.port, account.user, account.pass);
  await append(actor, "kept");
  actor.close();
  const watcher = await selected(gw.port, account.user, account.pass);
  try {
    await startIdle(watcher);
    await hibernate(gw.server, 1);
    const woken = gw.server.hibernation.stats.wokenByInput;
    watcher.write("DONE\r\nn1 UID FETCH 1 (FLAGS)\r\n");
    const reply = await watcher.response("n1");
    assert.match(reply, /^idle OK IDLE terminated\r\n\* 1 FETCH \(UID 1 FLAGS \(\)\)\r\nn1 OK/);
    assert.equal(gw.server.hibernation.stats.wokenByInput, woken + 1);
    // Anything but DONE ends the IDLE with BAD, as for a live session.
    await startIdle(watcher, "i2");
    await hibernate(gw.server, 1);
    watcher.write("NOPE\r\n");
    assert.match(await watcher.response("i2"), /i2 BAD/);
    assert.match(await watcher.command("LOGOUT"), /\* BYE[\s\S]*OK/);
  } finally {
    watcher.close();
  }
});

test("a connection dropped while hibernated is gone: uncounted, and its per-account slot comes back", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const gw = await gateway({ maxSessionsPerAccount: 1 });
  const account = await createAccount(gw.runtime);
  const watcher = await selected(gw.port, account.user, account.pass);
  await startIdle(watcher);
  await hibernate(gw.server, 1);
  const refused = await RawClient.connect(gw.port);
  assert.match(await refused.login(account.user, account.pass), /NO \[LIMIT\]/, "the slot is still held");
  refused.close();
  watcher.close();
  await until("the dropped session to be gone", () => gw.server.connections === 0);
  assert.equal(gw.server.hibernation.size, 0);
  const next = await RawClient.connect(gw.port);
  try {
    assert.match(await next.login(account.user, account.pass), /OK/);
  } finally {
    next.close();
  }
});

test("autologout and a deleted mailbox end a hibernated session with BYE", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const gw = await gateway({ limits: { autologoutMs: 1500 } });
  const account = await createAccount(gw.runtime);
  const watcher = await selected(gw.port, account.user, account.pass);
  await startIdle(watcher);
  await hibernate(gw.server, 1);
  await watcher.readUntil((s) => s.includes("* BYE Autologout"), 15_000);
  await until("the autologged-out session to be gone", () => gw.server.connections === 0);
  watcher.close();

  const other = await gateway();
  const owner = await createAccount(other.runtime);
  const actor = await RawClient.connect(other.port);
  assert.match(await actor.login(owner.user, owner.pass), /OK/);
  assert.match(await actor.command("CREATE Doomed"), /OK/);
  const idler = await RawClient.connect(other.port);
  assert.match(await idler.login(owner.user, owner.pass), /OK/);
  assert.match(await idler.command("SELECT Doomed"), /OK/);
  try {
    await startIdle(idler);
    await hibernate(other.server, 1);
    assert.match(await actor.command("DELETE Doomed"), /OK/);
    other.server.pollNow();
    await idler.readUntil((s) => s.includes("* BYE"));
    await until("the session to be gone", () => other.server.hibernation.size === 0);
  } finally {
    idler.close();
    actor.close();
  }
});

test("revoked credentials end a hibernated session with BYE, as they end a live one", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const gw = await sharedGateway();
  const account = await createAccount(gw.runtime);
  const idler = await selected(gw.port, account.user, account.pass);
  try {
    await startIdle(idler);
    await hibernate(gw.server, 1);
    const asleep = gw.server.hibernation.size;
    revokeSessions(gw.runtime.events, account.id);
    await idler.readUntil((s) => s.includes("* BYE Session ended: the account's credentials changed"));
    await until("the record to be gone", () => gw.server.hibernation.size === asleep - 1);
  } finally {
    idler.close();
  }
});

test("an implicit-TLS session hibernates, gets new mail asleep and wakes on DONE", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const gw = await gateway({ tls: true });
  const account = await createAccount(gw.runtime);
  const socket = tlsConnect({ host: "127.0.0.1", port: gw.tlsPort!, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  const watcher = await RawClient.over(socket);
  const actor = await selected(gw.port, account.user, account.pass);
  try {
    assert.match(await watcher.login(account.user, account.pass), /OK/);
    assert.match(await watcher.command("SELECT INBOX"), /OK/);
    await startIdle(watcher);
    await hibernate(gw.server, 1);
    await append(actor, "secure");
    await watcher.readUntil((s) => /\* 1 EXISTS\r\n/.test(s));
    watcher.write("DONE\r\n");
    assert.match(await watcher.response("idle"), /idle OK/);
    assert.match(await watcher.command("FETCH 1 (UID)"), /\* 1 FETCH \(UID 1\)/);
  } finally {
    watcher.close();
    actor.close();
  }
});
