/**
 * `npm start` with AEROGRAM_WORKERS=2 over real sockets, with the in-process
 * bus and limiter (no NATS_URL/REDIS_URL), which the primary shares with the
 * workers over IPC: on a real PostgreSQL, and on the embedded PGlite the
 * primary serves to the workers.
 * Which worker serves a connection is read from /proc (the worker process
 * holding the server end of the socket), so every cross-worker claim is
 * checked, not assumed:
 * - a delivery through one worker wakes IMAP IDLE sessions on both workers;
 * - a POP3 maildrop lock held on one worker refuses the same account on the other;
 * - /metrics sums the sessions of every worker;
 * - a worker killed with SIGKILL is replaced and the mail ports keep serving;
 * - SIGTERM drains every worker's sessions (IMAP BYE) and the whole tree exits 0.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { test } from "node:test";
import {
  cleanEnv,
  createTestDatabase,
  type RunningProcess,
  requireServer,
  startTsProcess,
  TextClient,
  tempDir,
} from "@aerogram/testkit";

const STARTUP_MS = 150_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The inode of the server end of the connection from `clientPort` to `serverPort`. */
function serverSocketInode(serverPort: number, clientPort: number): string | undefined {
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = Number.parseInt(f[1]!.split(":").pop()!, 16);
      const remote = Number.parseInt(f[2]!.split(":").pop()!, 16);
      if (local === serverPort && remote === clientPort) return f[9];
    }
  }
  return undefined;
}

/** The worker process that holds the server end of `client`'s connection. */
async function workerOf(client: TextClient, serverPort: number, workers: number[]): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const inode = serverSocketInode(serverPort, client.socket.localPort!);
    if (inode) {
      const holders = workers.filter((pid) => {
        try {
          return readdirSync(`/proc/${pid}/fd`).some((fd) => {
            try {
              return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
            } catch {
              return false;
            }
          });
        } catch {
          return false;
        }
      });
      if (holders.length === 1) return holders[0]!;
    }
    await sleep(25);
  }
  throw new Error(`no single worker holds the connection from port ${client.socket.localPort}`);
}

interface Stack {
  proc: RunningProcess;
  http: number;
  smtp: number;
  imap: number;
  pop3: number;
  password: string;
}

async function start(dataDir: string, env: Record<string, string>): Promise<Stack> {
  const proc = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv({
      AEROGRAM_WORKERS: "2",
      DATA_DIR: dataDir,
      HTTP_PORT: "0",
      EMBEDDED_PG_PORT: "0",
      SMTP_PORT: "0",
      IMAP_PORT: "0",
      POP3_PORT: "0",
      ...env,
    }),
  );
  const port = async (re: RegExp) => Number((await proc.waitFor(re, STARTUP_MS))[1]);
  await proc.waitFor(/Aerogram is running \(pid \d+, 2 workers\)/, STARTUP_MS);
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

/** Opens connections until one lands on each worker; closes the extra ones. */
async function onEachWorker(
  port: number,
  workers: number[],
  greeting: RegExp,
): Promise<Map<number, TextClient>> {
  const placed = new Map<number, TextClient>();
  for (let i = 0; i < 40 && placed.size < workers.length; i++) {
    const c = await TextClient.open(port);
    await c.expect(greeting);
    const pid = await workerOf(c, port, workers);
    if (placed.has(pid)) c.socket.destroy();
    else placed.set(pid, c);
  }
  assert.equal(placed.size, workers.length, "connections reached every worker");
  return placed;
}

async function send(port: number, subject: string): Promise<void> {
  const c = await TextClient.open(port);
  await c.say("", /^220 [^\n]*\n/);
  await c.say("EHLO client.example.net", /^250 [^\n]*\n/m);
  await c.say("MAIL FROM:<friend@example.net>", /^250 [^\n]*\n/);
  await c.say("RCPT TO:<demo@example.com>", /^250 [^\n]*\n/);
  await c.say("DATA", /^354 [^\n]*\n/);
  await c.say(`Subject: ${subject}\r\n\r\nbody\r\n.`, /^250 [^\n]*\n/);
  await c.quit("QUIT");
}

async function metric(http: number, re: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function readyz(http: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${http}/readyz`)).status;
}

test("two workers share IDLE wake-ups, the POP3 lock, metrics; a killed worker is replaced; SIGTERM drains all", {
  timeout: 420_000,
}, async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  t.after(() => db.drop());
  const dir = await tempDir("aerogram-cluster-");
  t.after(() => dir.remove());
  const stack = await start(dir.path, { DATABASE_URL: db.url, DEMO_ACCOUNT: "true" });
  t.after(() => stack.proc.stop("SIGKILL"));
  const primary = stack.proc.child.pid!;
  let workers = childPids(primary);
  assert.equal(workers.length, 2, "two worker processes");
  const { password } = stack;

  // IMAP IDLE on each worker; one delivery (through whichever worker takes it) wakes both.
  const idlers = await onEachWorker(stack.imap, workers, /^\* OK[^\n]*\n/);
  let tag = 0;
  for (const c of idlers.values()) {
    await c.say(`a${++tag} LOGIN demo@example.com ${password}`, /^a\d+ OK[^\n]*\n/m);
    await c.say(`a${++tag} SELECT INBOX`, /^a\d+ OK[^\n]*\n/m);
    await c.say(`a${++tag} IDLE`, /^\+ [^\n]*\n/m);
  }
  await send(stack.smtp, "wake up");
  for (const [pid, c] of idlers) {
    assert.match(await c.expect(/^\* \d+ EXISTS\r\n/m, 10_000), /1 EXISTS/, `IDLE on worker ${pid} woke up`);
  }
  // One gauge for the pod: the sessions of both workers.
  assert.equal(await metric(stack.http, /^aerogram_sessions\{[^}]*protocol="imap"[^}]*\} (\d+)/m), 2);

  // POP3: the maildrop lock taken on one worker holds on the other.
  const pops = await onEachWorker(stack.pop3, workers, /^\+OK[^\n]*\n/);
  const [first, second] = [...pops.values()];
  await first!.say("USER demo@example.com", /^\+OK[^\n]*\n/);
  await first!.say(`PASS ${password}`, /^\+OK[^\n]*\n/);
  await second!.say("USER demo@example.com", /^\+OK[^\n]*\n/);
  assert.match(await second!.say(`PASS ${password}`, /^-ERR[^\n]*\n/), /\[IN-USE\]/);
  await first!.quit("QUIT");
  second!.socket.destroy();
  // Released at QUIT: the other worker may take it now.
  const again = (await onEachWorker(stack.pop3, workers, /^\+OK[^\n]*\n/)).get(
    [...pops.keys()].find((pid) => pid !== [...pops.keys()][0])!,
  )!;
  await again.say("USER demo@example.com", /^\+OK[^\n]*\n/);
  assert.match(await again.say(`PASS ${password}`, /^[+-][^\n]*\n/), /^\+OK/);
  assert.match(await again.say("STAT", /^\+OK[^\n]*\n/), /^\+OK 1 /);
  await again.quit("QUIT");

  // A worker killed outright is replaced; its IDLE session is gone, the other one stays.
  const victim = workers[0]!;
  process.kill(victim, "SIGKILL");
  assert.ok(await idlers.get(victim)!.waitClosed(10_000), "the killed worker's session closed");
  for (let i = 0; i < 600; i++) {
    const now = childPids(primary);
    if (now.length === 2 && !now.includes(victim) && (await readyz(stack.http)) === 200) break;
    await sleep(100);
  }
  workers = childPids(primary);
  assert.equal(workers.length, 2, "the killed worker was replaced");
  assert.ok(!workers.includes(victim));
  assert.equal(await readyz(stack.http), 200);
  await send(stack.smtp, "after the crash");
  const survivor = idlers.get(workers.find((pid) => idlers.has(pid))!)!;
  assert.match(await survivor.expect(/^\* \d+ EXISTS\r\n/m, 10_000), /2 EXISTS/);

  // SIGTERM: sessions on both workers get BYE, the tree exits 0, no worker survives.
  const fresh = await onEachWorker(stack.imap, workers, /^\* OK[^\n]*\n/);
  for (const c of fresh.values())
    await c.say(`b${++tag} LOGIN demo@example.com ${password}`, /^b\d+ OK[^\n]*\n/m);
  const code = await stack.proc.stop("SIGTERM", 40_000);
  assert.equal(code, 0, `primary exit code; stderr:\n${stack.proc.stderr()}`);
  for (const [pid, c] of fresh) {
    assert.match(c.text, /\* BYE/, `worker ${pid}'s session was told BYE`);
    assert.ok(await c.waitClosed(1000));
  }
  assert.match(survivor.text, /\* BYE/);
  for (const pid of workers) assert.throws(() => process.kill(pid, 0), `worker ${pid} exited`);
});

test("two workers on the embedded PGlite: a delivery through one wakes IDLE on both", {
  timeout: 300_000,
}, async (t) => {
  const dir = await tempDir("aerogram-cluster-pglite-");
  t.after(() => dir.remove());
  const stack = await start(dir.path, {});
  t.after(() => stack.proc.stop("SIGKILL"));
  const workers = childPids(stack.proc.child.pid!);
  assert.equal(workers.length, 2);
  const idlers = await onEachWorker(stack.imap, workers, /^\* OK[^\n]*\n/);
  let tag = 0;
  for (const c of idlers.values()) {
    await c.say(`a${++tag} LOGIN demo@example.com ${stack.password}`, /^a\d+ OK[^\n]*\n/m);
    await c.say(`a${++tag} SELECT INBOX`, /^a\d+ OK[^\n]*\n/m);
    await c.say(`a${++tag} IDLE`, /^\+ [^\n]*\n/m);
  }
  await send(stack.smtp, "wake up");
  for (const [pid, c] of idlers) {
    assert.match(await c.expect(/^\* \d+ EXISTS\r\n/m, 10_000), /1 EXISTS/, `IDLE on worker ${pid} woke up`);
  }
  assert.equal(await stack.proc.stop("SIGTERM", 40_000), 0);
  for (const pid of workers) assert.throws(() => process.kill(pid, 0), `worker ${pid} exited`);
});
