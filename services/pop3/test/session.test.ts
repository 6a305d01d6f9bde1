/**
 * The scripted raw-socket suite: every command and error path against a real
 * gateway on real Postgres + s3rver (+ NATS for the expunge event).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import type { Runtime } from "@aerogram/runtime";
import type { Pop3Service } from "../src/service.ts";
import { createPop3Service } from "../src/service.ts";
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
const PASSWORD = "correct horse";
const DOTTED = "From: a@example.net\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n";
const BARE_LF = "From: a@example.net\nSubject: bare\n\nline one\n.dot line\nno final newline";
let alice: { accountId: number; inboxId: number };

before(async () => {
  if (!(await serversReachable(["postgres", "nats"]))) return;
  backends = await startBackends({ nats: true });
  runtime = await openRuntime(backends);
  pop3 = await createPop3Service(runtime, { host: "127.0.0.1", port: 0, idleMs: 60_000 });
  alice = await accountWithMail(runtime, "alice@example.org", PASSWORD, [
    message(1),
    DOTTED,
    BARE_LF,
    message(4),
  ]);
});

after(async () => {
  if (!backends) return;
  await pop3.drain(100);
  await runtime.close();
  await backends.stop();
});

const connect = () => RawClient.connect(pop3.port);

test("greeting, CAPA, wrong-state commands and USER/PASS errors", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const c = await connect();
  const greeting = await c.line();
  assert.match(greeting, /^\+OK Aerogram POP3 ready <[0-9a-f]+\.\d+@pop3\.test>$/);
  assert.equal(await c.cmd("CAPA"), "+OK capability list follows");
  const caps = await c.lines();
  for (const cap of [
    "TOP",
    "USER",
    "UIDL",
    "SASL PLAIN LOGIN",
    "RESP-CODES",
    "PIPELINING",
    "IMPLEMENTATION Aerogram",
  ]) {
    assert.ok(caps.includes(cap), cap);
  }
  assert.ok(!caps.includes("STLS"), "no STLS without TLS");
  assert.match(await c.cmd("STAT"), /^-ERR STAT is not valid in the AUTHORIZATION state/);
  assert.match(await c.cmd("RETR 1"), /^-ERR/);
  assert.match(await c.cmd("LAST"), /^-ERR LAST is not supported/);
  assert.match(await c.cmd("PASS nope"), /^-ERR send USER first/);
  assert.match(await c.cmd("BOGUS"), /^-ERR unknown command/);
  assert.match(await c.cmd("STLS"), /^-ERR TLS is not available/);
  assert.match(await c.cmd("USER alice@example.org"), /^\+OK/);
  assert.equal(await c.cmd("PASS wrong"), "-ERR [AUTH] invalid user name or password");
  assert.match(await c.cmd("AUTH CRAM-MD5"), /^-ERR unsupported SASL mechanism/);
  assert.equal(await c.cmd("AUTH"), "+OK SASL mechanisms follow");
  assert.deepEqual(await c.lines(), ["PLAIN", "LOGIN"]);
  assert.equal(await c.cmd("QUIT"), "+OK Aerogram POP3 signing off");
  await c.waitClosed();
});

test("a too-long line gets a clean -ERR and the session goes on", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const c = await connect();
  await c.line();
  assert.equal(await c.cmd(`USER ${"x".repeat(20_000)}`), "-ERR line too long");
  assert.equal(await c.cmd(`USER ${"x".repeat(300)}`), "-ERR argument too long");
  assert.match(await c.cmd("NOOP"), /^-ERR NOOP is not valid/);
  assert.match(await c.cmd("QUIT"), /^\+OK/);
});

test("TRANSACTION: STAT, LIST, UIDL, RETR (byte-exact, dots, bare LF), TOP, DELE, RSET, errors", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const c = await connect();
  assert.match(await login(c, "alice@example.org", PASSWORD), /^\+OK maildrop has 4 messages/);
  const sizes = [message(1), DOTTED, BARE_LF.replace(/\n/g, "\r\n") + "\r\n", message(4)].map(
    (m) => m.length,
  );
  assert.equal(await c.cmd("STAT"), `+OK 4 ${sizes.reduce((a, b) => a + b)}`);
  assert.match(await c.cmd("LIST"), /^\+OK 4 messages/);
  assert.deepEqual(
    await c.lines(),
    sizes.map((s, i) => `${i + 1} ${s}`),
  );
  assert.equal(await c.cmd("LIST 2"), `+OK 2 ${sizes[1]}`);
  assert.match(await c.cmd("LIST 5"), /^-ERR no such message/);
  assert.match(await c.cmd("LIST 0"), /^-ERR invalid message number/);
  const inbox = await runtime.store.mailboxes.byId(alice.inboxId);
  assert.match(await c.cmd("UIDL"), /^\+OK/);
  const uidl = await c.lines();
  assert.deepEqual(
    uidl,
    [1, 2, 3, 4].map((n) => `${n} ${inbox!.uidValidity}.${n}`),
  );
  assert.equal(await c.cmd("UIDL 3"), `+OK 3 ${inbox!.uidValidity}.3`);

  assert.equal(await c.cmd("RETR 2"), `+OK ${sizes[1]} octets`);
  const raw = await c.multilineRaw();
  assert.equal(raw.toString(), DOTTED.replace(/^\./gm, ".."), "leading dots stuffed");
  assert.equal(await c.cmd("RETR 3"), `+OK ${sizes[2]} octets`);
  const bare = await c.multiline();
  assert.equal(bare.toString(), `${BARE_LF.replace(/\n/g, "\r\n")}\r\n`, "bare LFs become CRLF");
  assert.equal(bare.length, sizes[2], "LIST size is what RETR sends");
  assert.equal(await c.cmd("RETR 1"), `+OK ${sizes[0]} octets`);
  assert.equal((await c.multiline()).toString(), message(1));

  assert.match(await c.cmd("TOP 2 1"), /^\+OK/);
  assert.equal(
    (await c.multiline()).toString(),
    "From: a@example.net\r\nSubject: dots\r\n\r\n.leading dot\r\n",
  );
  assert.match(await c.cmd("TOP 1 0"), /^\+OK/);
  assert.equal((await c.multiline()).toString(), message(1).split("\r\n\r\n")[0] + "\r\n\r\n");
  assert.match(await c.cmd("TOP 1"), /^-ERR usage/);

  assert.equal(await c.cmd("DELE 1"), "+OK message 1 deleted");
  assert.equal(await c.cmd("DELE 1"), "-ERR message 1 already deleted");
  assert.equal(await c.cmd("RETR 1"), "-ERR message 1 already deleted");
  assert.equal(await c.cmd("LIST 1"), "-ERR message 1 already deleted");
  assert.equal(await c.cmd("STAT"), `+OK 3 ${sizes.slice(1).reduce((a, b) => a + b)}`);
  assert.match(await c.cmd("LIST"), /^\+OK 3 messages/);
  assert.equal((await c.lines()).length, 3);
  assert.match(await c.cmd("RSET"), /^\+OK maildrop has 4 messages/);
  assert.equal(await c.cmd("LIST 1"), `+OK 1 ${sizes[0]}`);
  assert.equal(await c.cmd("NOOP"), "+OK");
  assert.match(await c.cmd("USER bob"), /^-ERR USER is not valid in the TRANSACTION state/);
  assert.match(await c.cmd("LAST"), /^-ERR LAST is not supported/);
  assert.match(await c.cmd("STLS"), /^-ERR/);
  c.destroy();
});

test("pipelined commands are answered in order from one buffer", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const c = await connect();
  await c.line();
  c.send(
    `USER alice@example.org\r\nPASS ${PASSWORD}\r\nSTAT\r\nLIST 1\r\nRETR 1\r\nNOOP\r\nUIDL 1\r\nRSET\r\n`,
  );
  assert.match(await c.line(), /^\+OK send PASS/);
  assert.match(await c.line(), /^\+OK maildrop has 4/);
  assert.match(await c.line(), /^\+OK 4 /);
  assert.match(await c.line(), /^\+OK 1 /);
  assert.match(await c.line(), /^\+OK \d+ octets/);
  assert.equal((await c.multiline()).toString(), message(1));
  assert.equal(await c.line(), "+OK");
  assert.match(await c.line(), /^\+OK 1 \d+\.1$/);
  assert.match(await c.line(), /^\+OK maildrop has/);
  c.destroy();
});

test("the maildrop lock: a second session gets [IN-USE] until the first ends", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const first = await connect();
  assert.match(await login(first, "alice@example.org", PASSWORD), /^\+OK/);
  const second = await connect();
  assert.match(await login(second, "alice@example.org", PASSWORD), /^-ERR \[IN-USE\]/);
  // Still in AUTHORIZATION: it may try again (RFC 1939 §8).
  first.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.match(await second.cmd("USER alice@example.org"), /^\+OK/);
  assert.match(await second.cmd(`PASS ${PASSWORD}`), /^\+OK maildrop has 4/);
  second.destroy();
});

test("AUTH PLAIN and LOGIN, with and without initial response, and cancel", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const plain = b64(`\0alice@example.org\0${PASSWORD}`);
  const tries: [string[], RegExp][] = [
    [[`AUTH PLAIN ${plain}`], /^\+OK maildrop/],
    [["AUTH PLAIN", plain], /^\+OK maildrop/],
    [["AUTH LOGIN", b64("alice@example.org"), b64(PASSWORD)], /^\+OK maildrop/],
    [[`AUTH LOGIN ${b64("alice@example.org")}`, b64(PASSWORD)], /^\+OK maildrop/],
    [["AUTH PLAIN", "*"], /^-ERR authentication cancelled/],
    [[`AUTH PLAIN ${b64("\0alice@example.org\0wrong")}`], /^-ERR \[AUTH\]/],
    [["AUTH PLAIN !!notbase64"], /^-ERR \[AUTH\] malformed/],
  ];
  for (const [lines, expected] of tries) {
    const c = await connect();
    await c.line();
    let answer = "";
    for (const l of lines) {
      answer = await c.cmd(l);
      if (!answer.startsWith("+ ")) break;
    }
    assert.match(answer, expected, lines.join(" | "));
    c.destroy();
    await new Promise((r) => setTimeout(r, 50));
  }
});

test("APOP only for accounts with a POP3 secret", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const queries = runtime.store.accounts;
  const bob = await accountWithMail(runtime, "bob@example.org", "bobpw", [message(1)]);
  const apop = async (user: string, secret: string) => {
    const c = await connect();
    const ts = (await c.line()).match(/<[^>]+>/)![0];
    const digest = createHash("md5")
      .update(ts + secret)
      .digest("hex");
    const answer = await c.cmd(`APOP ${user} ${digest}`);
    c.destroy();
    return answer;
  };
  assert.match(
    await apop("bob@example.org", "bobpw"),
    /^-ERR \[AUTH\]/,
    "login password is never an APOP secret",
  );
  await queries.setApopSecret(bob.accountId, "tanstaaf");
  assert.match(await apop("bob@example.org", "tanstaaf"), /^\+OK maildrop has 1/);
  await new Promise((r) => setTimeout(r, 100));
  assert.match(await apop("bob@example.org", "wrong"), /^-ERR \[AUTH\]/);
});

test("a dropped connection applies no deletes; QUIT applies them and IMAP's change query sees the expunge", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const carol = await accountWithMail(runtime, "carol@example.org", PASSWORD, [
    message(1),
    message(2),
    message(3),
  ]);
  const before = await runtime.store.messages.changesSince(carol.inboxId, 0);

  const dropped = await connect();
  assert.match(await login(dropped, "carol@example.org", PASSWORD), /^\+OK maildrop has 3/);
  assert.match(await dropped.cmd("DELE 1"), /^\+OK/);
  assert.match(await dropped.cmd("DELE 2"), /^\+OK/);
  dropped.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await runtime.store.messages.listUids(carol.inboxId)).length, 3, "nothing deleted on drop");

  const events: unknown[] = [];
  const sub = runtime.events.subscribe(carol.accountId, (e) => events.push(e));
  const c = await connect();
  assert.match(await login(c, "carol@example.org", PASSWORD), /^\+OK maildrop has 3/);
  assert.match(await c.cmd("DELE 1"), /^\+OK/);
  assert.match(await c.cmd("DELE 3"), /^\+OK/);
  assert.equal(await c.cmd("QUIT"), "+OK Aerogram POP3 signing off (2 messages deleted, 1 left)");
  await c.waitClosed();
  assert.deepEqual(
    (await runtime.store.messages.listUids(carol.inboxId)).map((m) => m.uid),
    [2],
  );
  const changes = await runtime.store.messages.changesSince(carol.inboxId, before.highestModseq);
  assert.deepEqual(changes.expunged, [1, 3]);
  for (let i = 0; i < 50 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  sub.unsubscribe();
  assert.deepEqual(events, [
    {
      account: carol.accountId,
      mailbox: carol.inboxId,
      kind: "expunge",
      modseq: String(changes.highestModseq),
      uids: [1, 3],
    },
  ]);

  // The lock is free again after QUIT, and numbering restarts from the new snapshot.
  const again = await connect();
  assert.match(await login(again, "carol@example.org", PASSWORD), /^\+OK maildrop has 1 messages/);
  assert.match(await again.cmd("UIDL 1"), /\.2$/);
  again.destroy();
});

test("mail arriving during a session is not shown until the next session", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const dave = await accountWithMail(runtime, "dave@example.org", PASSWORD, [message(1)]);
  const c = await connect();
  assert.match(await login(c, "dave@example.org", PASSWORD), /^\+OK maildrop has 1/);
  const { Delivery } = await import("@aerogram/delivery");
  await new Delivery(runtime).deliver(Buffer.from(message(2)), [{ mailboxId: dave.inboxId }]);
  assert.match(await c.cmd("STAT"), /^\+OK 1 /);
  assert.match(await c.cmd("RETR 2"), /^-ERR no such message/);
  assert.match(await c.cmd("QUIT"), /^\+OK/);
  const d = await connect();
  assert.match(await login(d, "dave@example.org", PASSWORD), /^\+OK maildrop has 2/);
  d.destroy();
});

test("idle autologout closes without applying deletes; drain says [SYS/TEMP]", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats"]))) return;
  const erin = await accountWithMail(runtime, "erin@example.org", PASSWORD, [message(1)]);
  const short = await createPop3Service(runtime, { host: "127.0.0.1", port: 0, idleMs: 300 });
  const c = await RawClient.connect(short.port);
  assert.match(await login(c, "erin@example.org", PASSWORD), /^\+OK/);
  assert.match(await c.cmd("DELE 1"), /^\+OK/);
  assert.match(await c.line(), /^-ERR autologout/);
  await c.waitClosed();
  assert.equal((await runtime.store.messages.listUids(erin.inboxId)).length, 1);

  const d = await RawClient.connect(short.port);
  assert.match(await login(d, "erin@example.org", PASSWORD), /^\+OK/);
  assert.match(await d.cmd("DELE 1"), /^\+OK/);
  await short.drain(100);
  assert.equal(await d.line(), "-ERR [SYS/TEMP] server shutting down");
  await d.waitClosed();
  assert.equal((await runtime.store.messages.listUids(erin.inboxId)).length, 1);
  const metrics = await runtime.metrics.metrics();
  assert.match(metrics, /aerogram_pop3_commands_total\{[^}]*command="DELE",result="ok"[^}]*\} \d+/);
  assert.match(metrics, /aerogram_pop3_bytes_sent_total\{[^}]*\} \d+/);
});
