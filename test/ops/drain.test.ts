/**
 * Graceful drain of `npm start`: SIGTERM to the real process with
 * live sessions on every protocol. Readiness flips first; the SMTP transaction
 * in the middle of DATA completes and is stored while an idle SMTP session gets
 * 421; IMAP sessions (one in IDLE, one between commands) get
 * `* BYE [UNAVAILABLE]`; the POP3 session in TRANSACTION is closed at the end
 * of the grace period without applying its DELE; the process exits 0 within
 * Kubernetes' default 30 s grace period. A restart on the same data directory
 * shows every message, the new one included.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanEnv, type RunningProcess, startTsProcess, TextClient, tempDir } from "@aerogram/testkit";

/** Kubernetes' default terminationGracePeriodSeconds. */
const GRACE_MS = 30_000;
const STARTUP_MS = 150_000;

interface Stack {
  proc: RunningProcess;
  http: number;
  smtp: number;
  imap: number;
  pop3: number;
  password: string;
}

async function start(dataDir: string): Promise<Stack> {
  const proc = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv({
      DATA_DIR: dataDir,
      HTTP_PORT: "0",
      EMBEDDED_PG_PORT: "0",
      SMTP_PORT: "0",
      IMAP_PORT: "0",
      POP3_PORT: "0",
    }),
  );
  // Starting the embedded PGlite is CPU-bound: on a busy 2-core runner it can take a minute or more.
  const port = async (re: RegExp) => Number((await proc.waitFor(re, STARTUP_MS))[1]);
  const [, password] = await proc.waitFor(/Demo account: demo@example\.com {2}password: (\S+)/, STARTUP_MS);
  return {
    proc,
    http: await port(/HTTP {3}http:\/\/127\.0\.0\.1:(\d+)\//),
    smtp: await port(/smtp 127\.0\.0\.1:(\d+)/),
    imap: await port(/IMAP {3}127\.0\.0\.1:(\d+)/),
    pop3: await port(/pop3 127\.0\.0\.1:(\d+)/),
    password: password!,
  };
}

async function smtpSession(port: number): Promise<TextClient> {
  const c = await TextClient.open(port);
  await c.say("", /^220 [^\n]*\n/);
  await c.say("EHLO client.example.net", /^250 [^\n]*\n/m);
  return c;
}

async function send(port: number, subject: string): Promise<void> {
  const c = await smtpSession(port);
  await c.say("MAIL FROM:<friend@example.net>", /^250 [^\n]*\n/);
  await c.say("RCPT TO:<demo@example.com>", /^250 [^\n]*\n/);
  await c.say("DATA", /^354 [^\n]*\n/);
  await c.say(`Subject: ${subject}\r\n\r\nbody\r\n.`, /^250 [^\n]*\n/);
  await c.say("QUIT", /^221 [^\n]*\n/);
}

async function pop3Login(port: number, password: string): Promise<TextClient> {
  const c = await TextClient.open(port);
  await c.say("", /^\+OK[^\n]*\n/);
  await c.say("USER demo@example.com", /^\+OK[^\n]*\n/);
  await c.say(`PASS ${password}`, /^\+OK[^\n]*\n/);
  return c;
}

async function readyz(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
}

test("SIGTERM drains live SMTP, IMAP and POP3 sessions without losing mail", {
  timeout: 420_000,
}, async (t) => {
  const dir = await tempDir("aerogram-drain-");
  t.after(() => dir.remove());
  let stack = await start(dir.path);
  t.after(() => stack.proc.stop("SIGKILL"));
  const { password } = stack;

  await send(stack.smtp, "first");
  await send(stack.smtp, "second");
  // Readiness needs every probe to have answered once.
  for (let i = 0; i < 100 && (await readyz(stack.http)) !== 200; i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(await readyz(stack.http), 200);

  // POP3 in TRANSACTION with a deletion marked but not committed.
  const pop3 = await pop3Login(stack.pop3, password);
  assert.match(await pop3.say("STAT", /^\+OK[^\n]*\n/), /^\+OK 2 /);
  await pop3.say("DELE 1", /^\+OK[^\n]*\n/);

  // IMAP: one session idling, one between commands.
  const idler = await TextClient.open(stack.imap);
  await idler.say("", /^\* OK[^\n]*\n/);
  await idler.say(`a LOGIN demo@example.com ${password}`, /^a OK[^\n]*\n/m);
  await idler.say("b SELECT INBOX", /^b OK[^\n]*\n/m);
  await idler.say("c IDLE", /^\+ [^\n]*\n/m);
  const waiting = await TextClient.open(stack.imap);
  await waiting.say("", /^\* OK[^\n]*\n/);
  await waiting.say(`a LOGIN demo@example.com ${password}`, /^a OK[^\n]*\n/m);

  // SMTP: one transaction in the middle of DATA, one session between transactions.
  const inFlight = await smtpSession(stack.smtp);
  await inFlight.say("MAIL FROM:<friend@example.net>", /^250 [^\n]*\n/);
  await inFlight.say("RCPT TO:<demo@example.com>", /^250 [^\n]*\n/);
  await inFlight.say("DATA", /^354 [^\n]*\n/);
  inFlight.socket.write("Subject: in flight\r\n\r\nfirst half of the body\r\n");
  const between = await smtpSession(stack.smtp);

  const sigterm = Date.now();
  const exited = new Promise<number | null>((resolve) =>
    stack.proc.child.once("exit", (code) => resolve(code)),
  );
  stack.proc.child.kill("SIGTERM");

  // Readiness flips while the DATA transaction is still open.
  const deadline = Date.now() + 5000;
  while ((await readyz(stack.http)) !== 503) {
    assert.ok(Date.now() < deadline, "/readyz turns 503");
    await new Promise((r) => setTimeout(r, 20));
  }

  assert.match(await between.say("", /^421 [^\n]*\n/m), /^421 4\.3\.2 /);
  assert.ok(await between.waitClosed(5000), "the idle SMTP session is closed");
  await assert.rejects(TextClient.open(stack.smtp), "no new SMTP connections");

  assert.match(await idler.say("", /^\* BYE [^\n]*\n/m), /^\* BYE \[UNAVAILABLE\]/);
  assert.match(await waiting.say("", /^\* BYE [^\n]*\n/m), /^\* BYE \[UNAVAILABLE\]/);

  // The transaction under way finishes and is acknowledged only once stored.
  assert.match(await inFlight.say("second half\r\n.", /^\d{3} [^\n]*\n/m), /^250 /);

  // POP3 is left to finish (a client could still QUIT); at the end of the grace it is closed, nothing applied.
  assert.match(await pop3.say("", /^-ERR [^\n]*\n/m, GRACE_MS), /^-ERR \[SYS\/TEMP\]/);
  assert.equal(await exited, 0, `exit code; stderr: ${stack.proc.stderr()}`);
  const took = Date.now() - sigterm;
  assert.ok(took < GRACE_MS, `exited ${took} ms after SIGTERM`);

  // After a restart: both earlier messages (the DELE was not applied) and the one delivered during the drain.
  stack = await start(dir.path);
  const after = await pop3Login(stack.pop3, password);
  assert.match(await after.say("STAT", /^\+OK[^\n]*\n/), /^\+OK 3 /);
  const list = await after.say("TOP 3 0", /^\+OK[\s\S]*?\r\n\.\r\n/);
  assert.match(list, /Subject: in flight/);
  await after.say("QUIT", /^\+OK[^\n]*\n/);
  assert.equal(await stack.proc.stop("SIGTERM", GRACE_MS), 0);
});
