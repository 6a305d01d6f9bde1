/**
 * POP3 benchmark: sessions/s (connect, login, STAT, QUIT), RETR/s and MB/s
 * against Aerogram and, in the same run, a private Dovecot POP3 (when
 * installed), both filled with the same messages: BENCH_ROUNDS (5) rounds,
 * alternating which server goes first, each phase its own load run; prints
 * every round with the load average, min/median/max, the ratios and the CPU
 * per session and per RETR from /proc (Aerogram: its processes and its
 * PostgreSQL backends; Dovecot: its master and every child).
 *
 * Aerogram is `npm start` with AEROGRAM_SERVICES=pop3 and BENCH_WORKERS
 * cluster workers (default: the cores) on the test Postgres
 * (TEST_DATABASE_URL), filesystem blobs and Redis (TEST_REDIS_URL) when
 * reachable (BENCH_LIMITER=memory: the in-process one). Dovecot runs
 * from a config under a temp directory on a loopback port (passwd-file auth
 * with salted SHA-256 hashes and the auth cache, maildir, the POP3 session
 * lock, ssl=no); nothing is installed or left behind.
 *
 *   npm run bench -w @aerogram/pop3    (env: BENCH_SECONDS, BENCH_CLIENTS, BENCH_MESSAGES,
 *   BENCH_ONLY=aerogram to skip Dovecot; BENCH_VERBOSE=1 for both servers' client-side
 *   time per session step)
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "@aerogram/config";
import { Delivery } from "@aerogram/delivery";
import { createRuntime } from "@aerogram/runtime";
import {
  cleanEnv,
  cpuDuring,
  createTestDatabase,
  loadAverage1,
  processName,
  processTree,
  startTsProcess,
  summary,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  tempDir,
  uniqueId,
} from "@aerogram/testkit";
import pg from "pg";
import { Client, type Load, login, type Result } from "./pop3-clients.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50);
const PASSWORD = "bench-pass";
/** Aerogram's cluster workers (AEROGRAM_WORKERS); Dovecot always runs as many processes as it likes. */
const WORKERS = Number(process.env.BENCH_WORKERS ?? availableParallelism());
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** The same N messages for both servers: sizes from 1 KB to ~100 KB, some lines starting with ".". */
function corpus(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const lines = 10 + ((i * 37) % 1200);
    const body = Array.from({ length: lines }, (_, k) =>
      k % 17 === 0 ? `.dot line ${k}` : `line ${k} ${"x".repeat(70)}`,
    );
    out.push(
      Buffer.from(
        `From: bench@example.net\r\nTo: u@example.org\r\nSubject: bench ${i}\r\nMessage-ID: <b${i}@example.net>\r\n\r\n${body.join("\r\n")}\r\n`,
      ),
    );
  }
  return out;
}

/** A server under test: where clients go, which processes do its work, how to stop it. */
interface Server {
  name: string;
  ports: number[];
  /** Every process whose CPU is the server's (for Aerogram also its PostgreSQL backends). */
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * Runs one phase of the load in a child process (see pop3-clients.ts), so the
 * client's CPU never competes with an in-process gateway's event loop.
 */
async function runLoad(ports: number[], users: string[], phase: "sessions" | "retr"): Promise<Result> {
  const load: Load = { ports, users, password: PASSWORD, seconds: SECONDS, messages: MESSAGES, phase };
  const script = fileURLToPath(new URL("./pop3-clients.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(load)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  return JSON.parse(out) as Result;
}

async function redisReachable(): Promise<boolean> {
  const u = new URL(TEST_REDIS_URL);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port || 6379) });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** PIDs of the PostgreSQL backends serving one database (the server runs on this machine). */
async function backendPids(url: string, database: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [database],
    );
    return rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}

/**
 * `npm start` with only POP3 (AEROGRAM_SERVICES=pop3) and BENCH_WORKERS
 * workers, on the test Postgres, filesystem blobs and Redis when reachable
 * (else the in-process limiter the primary shares with its workers), filled
 * through the store first.
 */
async function startAerogram(messages: Buffer[], users: string[]): Promise<Server> {
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-pop3-bench-");
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    BLOB_DIR: join(dir.path, "blobs"),
    DATA_DIR: join(dir.path, "data"),
    LOG_LEVEL: "warn",
    REDIS_KEY_PREFIX: `bench${uniqueId()}:`,
  };
  if (process.env.BENCH_LIMITER !== "memory" && (await redisReachable())) env.REDIS_URL = TEST_REDIS_URL;
  const runtime = await createRuntime(loadConfig(env), { service: "pop3-bench" });
  try {
    const delivery = new Delivery(runtime);
    for (const u of users) {
      const account = await runtime.store.accounts.create({ address: u, password: PASSWORD });
      const inbox = await runtime.store.mailboxes.byName(account.id, "INBOX");
      for (const m of messages) await delivery.deliver(m, [{ mailboxId: inbox!.id }]);
    }
  } finally {
    await runtime.close();
  }
  const gateway = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv({
      ...env,
      AEROGRAM_SERVICES: "pop3",
      AEROGRAM_WORKERS: String(WORKERS),
      POP3_PORT: "0",
      HTTP_PORT: "0",
      DEMO_ACCOUNT: "false",
    }),
  );
  const port = Number((await gateway.waitFor(/pop3 127\.0\.0\.1:(\d+)/, 120_000))[1]);
  console.log(
    `aerogram: ${WORKERS} worker(s), limiter ${env.REDIS_URL ? "redis" : "in-process (shared over IPC)"}, blobs on the filesystem, real Postgres`,
  );
  // Warm-up: each worker sizes every blob once and fills its login cache (its
  // scrypt per account). Consecutive connections go to the next worker in
  // turn, so each user logs in WORKERS times in a row.
  for (const u of users) for (let i = 0; i < WORKERS; i++) (await login(port, u, PASSWORD)).close();
  let backends = await backendPids(TEST_DATABASE_URL, db.name);
  return {
    name: "aerogram",
    ports: [port],
    pids: () => [...processTree(gateway.child.pid!), ...backends],
    async stop() {
      backends = [];
      await gateway.stop("SIGTERM");
      await db.drop();
      await dir.remove();
    },
  };
}

/**
 * Dovecot's {SSHA256} scheme: base64(SHA-256(password + salt) + salt). A
 * hashed password (never {PLAIN}), checked at the cost Aerogram pays per
 * cached login (one SHA-256; its scrypt runs once per cache lifetime).
 */
function ssha256(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash("sha256").update(password).update(salt).digest();
  return `{SSHA256}${Buffer.concat([digest, salt]).toString("base64")}`;
}

/** "nobody": Dovecot's mail processes must not run as root. */
const MAIL_UID = 65534;

async function chownTree(path: string, uid: number): Promise<void> {
  await chown(path, uid, uid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid);
    else await chown(p, uid, uid);
  }
}

function dovecotBinary(): string | undefined {
  for (const p of ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]) if (existsSync(p)) return p;
  return undefined;
}

async function startDovecot(messages: Buffer[], users: string[]): Promise<Server | string> {
  const binary = dovecotBinary();
  if (!binary || !existsSync("/usr/lib/dovecot/pop3")) return "not available";
  const dir = await tempDir("aerogram-dovecot-");
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  // Dovecot's auth process runs as its own user and must reach the passwd file.
  await chmod(dir.path, 0o755);
  const conf = join(dir.path, "dovecot.conf");
  await writeFile(join(dir.path, "passwd"), users.map((u) => `${u}:${ssha256(PASSWORD)}\n`).join(""));
  await writeFile(
    conf,
    `base_dir = ${dir.path}/run
state_dir = ${dir.path}/state
log_path = ${dir.path}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# The same steady state as Aerogram's Authenticator: a remembered lookup (its
# verified-login cache, 5 min) and one SHA-256 per login against a stored hash.
auth_cache_size = 10M
auth_cache_ttl = 5 mins
# RFC 1939 §8: one session per maildrop, as Aerogram's lease (off by default in Dovecot).
pop3_lock_session = yes
first_valid_uid = 1
mail_location = maildir:${dir.path}/home/%u/Maildir
passdb {
  driver = passwd-file
  args = ${dir.path}/passwd
}
userdb {
  driver = static
  args = uid=${MAIL_UID} gid=${MAIL_UID} home=${dir.path}/home/%u
}
# Dovecot's "high-performance" login mode and reused pop3 processes, so we
# compare against Dovecot at its fastest rather than at its most isolated.
service pop3-login {
  inet_listener pop3 {
    port = ${port}
  }
  service_count = 0
  process_min_avail = 2
}
service pop3 {
  service_count = 0
}
service anvil {
  chroot =
}
`,
  );
  for (const u of users) {
    const md = join(dir.path, "home", u, "Maildir");
    for (const sub of ["cur", "new", "tmp"]) await mkdir(join(md, sub), { recursive: true });
    let i = 0;
    for (const m of messages) {
      // Maildir stores LF line ends; Dovecot adds the CRs on the way out, as we do for bare LFs.
      await writeFile(
        join(md, "cur", `${1_700_000_000 + i}.${i}.bench:2,`),
        m.toString("latin1").replace(/\r\n/g, "\n"),
      );
      i++;
    }
  }
  // Dovecot never runs mail processes as root: the maildirs belong to "nobody".
  await chownTree(join(dir.path, "home"), MAIL_UID);
  await mkdir(join(dir.path, "run"), { recursive: true });
  await mkdir(join(dir.path, "state"), { recursive: true });
  const proc = spawn(binary, ["-F", "-c", conf], { stdio: "ignore" });
  const stop = async () => {
    proc.kill("SIGTERM");
    if (proc.exitCode === null) await new Promise((r) => proc.once("exit", r));
    if (!process.env.BENCH_KEEP_DOVECOT) await dir.remove();
    else console.log(`dovecot files kept in ${dir.path}`);
  };
  try {
    for (let i = 0; ; i++) {
      try {
        (await Client.open(port)).close();
        break;
      } catch {
        if (i > 50) throw new Error(`did not start (see ${dir.path}/dovecot.log)`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const u of users) (await login(port, u, PASSWORD)).close();
  } catch (error) {
    await stop();
    return `failed: ${(error as Error).message}`;
  }
  return { name: "dovecot", ports: [port], pids: () => processTree(proc.pid!), stop };
}

interface Round {
  load1: number;
  sessions: Record<string, { perSecond: number; cpuMs: number }>;
  retr: Record<string, { perSecond: number; cpuMs: number; mbPerSecond: number }>;
}

async function measureRound(servers: Server[], users: string[]): Promise<Round> {
  const round: Round = { load1: loadAverage1(), sessions: {}, retr: {} };
  for (const server of servers) {
    const s = await cpuDuring(server.pids, () => runLoad(server.ports, users, "sessions"));
    const sessions = s.result.sessionsPerSecond * SECONDS;
    if (process.env.BENCH_VERBOSE) {
      const by = [...s.perProcess]
        .filter(([, cpu]) => cpu > 0)
        .map(([pid, cpu]) => `${processName(pid)}[${pid}] ${((cpu * 1000) / sessions).toFixed(2)}`);
      console.log(`  ${server.name} CPU ms per session by process: ${by.join(", ")}`);
    }
    round.sessions[server.name] = { perSecond: s.result.sessionsPerSecond, cpuMs: (s.cpu * 1000) / sessions };
    if (process.env.BENCH_VERBOSE) {
      const steps = Object.entries(s.result.stepMs).map(([k, v]) => `${k} ${v.toFixed(2)}`);
      console.log(`  ${server.name} ms per session step (client side): ${steps.join(", ")}`);
    }
    const r = await cpuDuring(server.pids, () => runLoad(server.ports, users, "retr"));
    const retrs = r.result.retrPerSecond * SECONDS;
    round.retr[server.name] = {
      perSecond: r.result.retrPerSecond,
      cpuMs: (r.cpu * 1000) / retrs,
      mbPerSecond: r.result.mbPerSecond,
    };
  }
  return round;
}

const fmt = (n: number, digits = 0) => n.toFixed(digits);

function report(rounds: Round[], names: string[]): void {
  const ours = names[0]!;
  const theirs = names[1];
  console.log("");
  console.log(
    `| round | load1 | ${names.map((n) => `${n} sessions/s | ${n} RETR/s`).join(" | ")}${theirs ? " | ratio sessions | ratio RETR" : ""} |`,
  );
  rounds.forEach((r, i) => {
    const cells = names.flatMap((n) => [fmt(r.sessions[n]!.perSecond), fmt(r.retr[n]!.perSecond)]);
    const ratios = theirs
      ? [
          `${fmt(r.sessions[ours]!.perSecond / r.sessions[theirs]!.perSecond, 2)}x`,
          `${fmt(r.retr[ours]!.perSecond / r.retr[theirs]!.perSecond, 2)}x`,
        ]
      : [];
    console.log(`| ${i + 1} | ${fmt(r.load1, 1)} | ${[...cells, ...ratios].join(" | ")} |`);
  });
  const line = (label: string, values: number[], digits = 0, suffix = "") => {
    const { min, median, max } = summary(values);
    console.log(
      `${label}: min ${fmt(min, digits)}${suffix}, median ${fmt(median, digits)}${suffix}, max ${fmt(max, digits)}${suffix}`,
    );
  };
  console.log("");
  line(
    "load average (1 min)",
    rounds.map((r) => r.load1),
    1,
  );
  for (const n of names) {
    line(
      `${n} sessions/s`,
      rounds.map((r) => r.sessions[n]!.perSecond),
    );
    line(
      `${n} RETR/s`,
      rounds.map((r) => r.retr[n]!.perSecond),
    );
    line(
      `${n} MB/s`,
      rounds.map((r) => r.retr[n]!.mbPerSecond),
      1,
    );
    line(
      `${n} CPU ms per session`,
      rounds.map((r) => r.sessions[n]!.cpuMs),
      2,
    );
    line(
      `${n} CPU ms per RETR`,
      rounds.map((r) => r.retr[n]!.cpuMs),
      3,
    );
  }
  if (theirs) {
    line(
      "ratio sessions/s",
      rounds.map((r) => r.sessions[ours]!.perSecond / r.sessions[theirs]!.perSecond),
      2,
      "x",
    );
    line(
      "ratio RETR/s",
      rounds.map((r) => r.retr[ours]!.perSecond / r.retr[theirs]!.perSecond),
      2,
      "x",
    );
  }
}

const messages = corpus();
const mb = messages.reduce((n, m) => n + m.length, 0) / 1e6;
console.log(
  `pop3 bench: ${CLIENTS} clients, ${MESSAGES} messages each (${mb.toFixed(1)} MB), ${SECONDS} s per phase, ${ROUNDS} alternating rounds`,
);
const users = Array.from({ length: CLIENTS }, (_, i) => `bench${i}@example.org`);
const servers: Server[] = [await startAerogram(messages, users)];
try {
  const dovecot =
    process.env.BENCH_ONLY === "aerogram"
      ? "skipped (BENCH_ONLY=aerogram)"
      : await startDovecot(messages, users);
  if (typeof dovecot === "string") console.log(`dovecot: ${dovecot}`);
  else servers.push(dovecot);
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate who goes first, so neither always runs on the warmer or quieter machine.
    rounds.push(await measureRound(i % 2 ? [...servers].reverse() : servers, users));
    process.stdout.write(`round ${i + 1} done\n`);
  }
  report(
    rounds,
    servers.map((s) => s.name),
  );
} finally {
  for (const s of servers) await s.stop();
}
process.exit(0);
