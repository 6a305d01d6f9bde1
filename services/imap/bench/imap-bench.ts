/**
 * `npm run bench` (services/imap): imaptest stress against Aerogram and against a
 * private Dovecot on the same machine, in the same run, alternating (issue 17).
 *
 *   imaptest users=100 clients=20 secs=30 mbox=<200 generated messages>
 *
 * Two mixes: `default` (imaptest's own: login → select → commands → logout) and
 * `logout0` (`logout=0`: the sessions stay open, the steady state of a mail
 * client). Every round runs each mix against both servers, the order alternating
 * from round to round, with empty mailboxes each time (a fresh database and blob
 * directory for Aerogram, a fresh maildir for Dovecot). Prints, per mix, the
 * min/median/max over the rounds of LOGIN/s, FETCH/s, APPEND/s, LIST/s, STATUS/s,
 * STORE/s, EXPUNGE/s, the ratios Aerogram/Dovecot on the medians, imaptest's
 * error counts, CPU per command (ms; Aerogram = gateway processes + its
 * PostgreSQL backends, Dovecot = its whole process tree; from /proc/<pid>/stat),
 * write system calls per command of the server's own processes (/proc/<pid>/io
 * syscw; socket writes to clients and, for Aerogram, to PostgreSQL) and the
 * load average.
 *
 * Aerogram runs as a child process (imap-gateway.ts) on the test PostgreSQL
 * (TEST_DATABASE_URL) with the in-process bus and limiter. Dovecot 2.3 is
 * libs/testkit's private Dovecot (startPrivateDovecot): maildir, passwd-file,
 * here with the auth cache and process limits raised.
 *
 * Environment:
 *   BENCH_SECS=30      seconds per imaptest run
 *   BENCH_ROUNDS=3     alternating rounds
 *   BENCH_USERS=100    imaptest users (accounts bench1..N)
 *   BENCH_CLIENTS=20   imaptest clients
 *   BENCH_MESSAGES=200 messages in the generated mbox imaptest appends from
 *   BENCH_MIXES=default,logout0 (or compliance: imaptest's protocol scripts,
 *                      `test=$IMAPTEST_TESTS`, default /opt/imaptest-src/src/tests;
 *                      prints imaptest's failure summary per server)
 *   BENCH_BLOBS=fs     fs | s3 (s3rver from libs/testkit)
 *   BENCH_GATEWAYS=1   gateway processes behind one port (node:cluster)
 *   BENCH_SERVERS=aerogram,dovecot
 *   BENCH_PORT         Aerogram's port (default: a free one; Dovecot gets its own)
 *   BENCH_CPU_PROF=dir `node --cpu-prof` of the gateway into dir
 *   BENCH_READY_SECS=300 how long the gateway may take to start (accounts, listen)
 *   IMAP_*             passed to the gateway (IMAP_HEAD_MAX_STALE_MS=0, IMAP_MESSAGE_CACHE_BYTES=0: A/B)
 *   BENCH_VERBOSE=1    imaptest's output
 *
 * Needs imaptest (IMAPTEST=/path, default /opt/imaptest/imaptest or
 * /tmp/imaptest/src/imaptest) and /usr/sbin/dovecot; without imaptest it prints
 * "imaptest: not available" and exits 0, without Dovecot it measures Aerogram alone.
 *
 * BENCH_SMOKE=1 or --smoke (the smoke test in npm test, libs/testkit bench.ts):
 * 5 users, 2 clients, 2 s, one round of the default mix, a 20-message mbox, no
 * Dovecot; without imaptest it checks LOGIN/SELECT/APPEND on the bench's
 * gateway with a raw client instead. Every run ends with one summary line per
 * server and mix (`aerogram login/s … FETCH/s … APPEND/s … errors N`, medians).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  benchKnob,
  benchSmoke,
  createTestDatabase,
  dovecotUnavailable,
  freePort,
  startPrivateDovecot,
  startS3,
  type TestS3,
  TextClient,
  tempDir,
} from "@aerogram/testkit";

const IMAPTEST =
  process.env.IMAPTEST ??
  ["/opt/imaptest/imaptest", "/tmp/imaptest/src/imaptest"].find((p) => existsSync(p)) ??
  "/opt/imaptest/imaptest";
const SMOKE = benchSmoke();
const USERS = benchKnob("BENCH_USERS", 100, 5);
const CLIENTS = benchKnob("BENCH_CLIENTS", 20, 2);
const SECS = benchKnob("BENCH_SECS", 30, 2);
const ROUNDS = benchKnob("BENCH_ROUNDS", 3, 1);
const MESSAGES = benchKnob("BENCH_MESSAGES", 200, 20);
const MIXES = (process.env.BENCH_MIXES ?? (SMOKE ? "default" : "default,logout0"))
  .split(",")
  .filter(Boolean) as Mix[];
const SERVERS = (process.env.BENCH_SERVERS ?? (SMOKE ? "aerogram" : "aerogram,dovecot"))
  .split(",")
  .filter(Boolean);
const BLOBS = process.env.BENCH_BLOBS === "s3" ? "s3" : "fs";
const GATEWAYS = Number(process.env.BENCH_GATEWAYS ?? 1);
const FIXED_PORT = process.env.BENCH_PORT ? Number(process.env.BENCH_PORT) : undefined;
const CPU_PROF = process.env.BENCH_CPU_PROF;
/** How long a gateway may take to create its accounts and listen (scrypt per account; minutes at a load of 50). */
const READY_SECS = Number(process.env.BENCH_READY_SECS ?? 300);
const PASSWORD = "bench-pass";
const CLK_TCK = 100; // USER_HZ on Linux

type Mix = "default" | "logout0" | "compliance";
/** imaptest's protocol scripts (BENCH_MIXES=compliance). */
const IMAPTEST_TESTS =
  process.env.IMAPTEST_TESTS ??
  ["/opt/imaptest-src/src/tests", "/tmp/imaptest/src/tests"].find((p) => existsSync(p)) ??
  "/opt/imaptest-src/src/tests";
const MEASURES = [
  ["LOGIN", ["Logi"]],
  ["FETCH", ["Fetc", "Fet2"]],
  ["APPEND", ["Appe"]],
  ["LIST", ["List"]],
  ["STATUS", ["Stat"]],
  ["STORE", ["Stor"]],
  ["EXPUNGE", ["Expu"]],
] as const;
type Measure = (typeof MEASURES)[number][0];

interface RunResult {
  rates: Record<Measure, number>;
  commands: number;
  errors: number;
  cpuMsPerCommand: number;
  /** Write system calls per command of the server's processes (PostgreSQL's not counted). */
  writesPerCommand: number;
  /** Share of the CPU that was the database's (Aerogram) — 0 for Dovecot. */
  dbCpuShare: number;
  load: string;
  output: string;
}

function generateMbox(count: number): string {
  const parts: string[] = [];
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const words = ["alpha", "beta", "gamma", "delta", "lorem", "ipsum", "mail", "server"];
  for (let i = 0; i < count; i++) {
    const lines: string[] = [];
    const n = 5 + Math.floor(random() * 60);
    for (let j = 0; j < n; j++) {
      lines.push(
        `Line ${j} of message ${i}: ${Array.from({ length: 10 }, () => words[Math.floor(random() * words.length)]).join(" ")}`,
      );
    }
    parts.push(
      `From bench@example.org Mon Jan  1 00:00:00 2024\nFrom: Sender ${i} <s${i}@example.org>\nTo: bench@example.org\n` +
        `Subject: Bench message ${i}\nDate: Mon, 1 Jan 2024 00:${String(i % 60).padStart(2, "0")}:00 +0000\n` +
        `Message-ID: <bench${i}@example.org>\n\n${lines.join("\n")}\n\n`,
    );
  }
  return parts.join("");
}

// ---- CPU from /proc ------------------------------------------------------------

interface ProcStat {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
  own: number;
}

async function procStat(pid: number): Promise<ProcStat | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]].map(Number) as number[];
    return { ppid: Number(f[1]), ticks: utime! + stime! + cutime! + cstime!, own: utime! + stime! };
  } catch {
    return null; // exited meanwhile
  }
}

async function allPids(): Promise<number[]> {
  return (await readdir("/proc")).filter((n) => /^\d+$/.test(n)).map(Number);
}

/**
 * CPU ticks of a process tree: every live process's own and reaped children's
 * time. A child reaped during the run moves its time into its parent's cutime,
 * so a tree sampled at start and end loses nothing to processes that came and went.
 */
async function treeTicks(root: number): Promise<number> {
  const stats = new Map<number, ProcStat>();
  for (const pid of await allPids()) {
    const s = await procStat(pid);
    if (s) stats.set(pid, s);
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; hops++) {
      if (p === root) return true;
      p = stats.get(p)?.ppid ?? 0;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, s] of stats) if (inTree(pid)) ticks += s.ticks;
  return ticks;
}

/** write/writev/send system calls of a tree's live processes so far (/proc/<pid>/io syscw). */
async function treeWrites(root: number): Promise<number> {
  const parents = new Map<number, number>();
  for (const pid of await allPids()) {
    const s = await procStat(pid);
    if (s) parents.set(pid, s.ppid);
  }
  let writes = 0;
  for (const pid of parents.keys()) {
    let p = pid;
    for (let hops = 0; p > 1 && p !== root && hops < 20; hops++) p = parents.get(p) ?? 0;
    if (p !== root) continue;
    try {
      const io = await readFile(`/proc/${pid}/io`, "utf8");
      writes += Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0);
    } catch {
      // exited, or not ours to read
    }
  }
  return writes;
}

/**
 * PostgreSQL backends of one database, found by their process title
 * ("postgres: <user> <db> <client> <state>"); their parent (the postmaster) reaps
 * them for every database, so they are sampled each second and each backend's
 * last value kept.
 */
class BackendSampler {
  readonly #seen = new Map<number, { first: number; last: number }>();
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly database: string) {}

  async sample(): Promise<void> {
    for (const pid of await allPids()) {
      let title: string;
      try {
        title = await readFile(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue;
      }
      if (!title.startsWith("postgres: ") || !title.split(" ").includes(this.database)) continue;
      const s = await procStat(pid);
      if (!s) continue;
      const entry = this.#seen.get(pid);
      if (entry) entry.last = s.own;
      else this.#seen.set(pid, { first: this.#started ? 0 : s.own, last: s.own });
    }
  }

  #started = false;

  async start(): Promise<void> {
    await this.sample();
    this.#started = true;
    this.#timer = setInterval(() => void this.sample(), 1000);
  }

  async stop(): Promise<number> {
    if (this.#timer) clearInterval(this.#timer);
    await this.sample();
    let ticks = 0;
    for (const e of this.#seen.values()) ticks += e.last - e.first;
    return ticks;
  }
}

// ---- imaptest ------------------------------------------------------------------

/** Runs imaptest with `args` to its end; its stdout and stderr together. */
async function imaptestOutput(args: string[]): Promise<string> {
  const child = spawn(IMAPTEST, args, { env: { ...process.env, LD_LIBRARY_PATH: "/usr/lib/dovecot" } });
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    output += d.toString();
  });
  await new Promise<void>((res, rej) => {
    child.on("error", rej);
    child.on("close", () => res());
  });
  return output;
}

/** imaptest's protocol scripts against one server: its summary lines ("N/M ... failed"). */
async function runCompliance(
  port: number,
  userTemplate: string,
): Promise<{ summary: string; failed: number }> {
  const args = [
    "host=127.0.0.1",
    `port=${port}`,
    `user=${userTemplate.replace("%d", "1")}`,
    `pass=${PASSWORD}`,
    `test=${IMAPTEST_TESTS}`,
  ];
  const output = await imaptestOutput(args);
  const lines = output.split("\n").filter((l) => /failed/.test(l));
  if (process.env.BENCH_VERBOSE) console.log(output);
  const failed = lines.reduce(
    (n, l) => n + Number(/(\d+)(?:\/\d+)? (?:individual commands |test groups: )?failed/.exec(l)?.[1] ?? 0),
    0,
  );
  return { summary: lines.join("\n"), failed };
}

async function runImaptest(
  port: number,
  mbox: string,
  userTemplate: string,
  mix: Mix,
): Promise<{ totals: Record<string, number>; errors: number; output: string }> {
  const args = [
    "host=127.0.0.1",
    `port=${port}`,
    `user=${userTemplate}`,
    `pass=${PASSWORD}`,
    `users=${USERS}`,
    `clients=${CLIENTS}`,
    `secs=${SECS}`,
    `mbox=${mbox}`,
    ...(mix === "logout0" ? ["logout=0"] : []),
  ];
  const output = await imaptestOutput(args);
  const totalsAt = output.lastIndexOf("Totals:");
  const block = output.slice(totalsAt).split("\n");
  const names = (block[1] ?? "").trim().split(/\s+/);
  const counts = (block[4] ?? "").trim().split(/\s+/).map(Number);
  const totals: Record<string, number> = {};
  names.forEach((name, i) => {
    totals[name] = counts[i] ?? 0;
  });
  const errors = (output.match(/^Error: /gm) ?? []).length;
  return { totals, errors, output };
}

function loadAverage(): Promise<string> {
  return readFile("/proc/loadavg", "utf8").then((t) => t.split(" ").slice(0, 3).join(" "));
}

// ---- servers -------------------------------------------------------------------

interface Server {
  port: number;
  /** Root of the process tree whose CPU counts. */
  pid: number;
  userTemplate: string;
  database?: string;
  stop(): Promise<void>;
}

async function startAerogram(dir: string, port: number, s3: TestS3 | null): Promise<Server> {
  const db = await createTestDatabase();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: "20",
    DATA_DIR: dir,
    LOG_LEVEL: "error",
    BENCH_PORT: String(port),
    BENCH_USERS: String(USERS),
    BENCH_PASSWORD: PASSWORD,
    BENCH_GATEWAYS: String(GATEWAYS),
    ...(process.env.BENCH_SQL_COUNT ? { BENCH_SQL_COUNT: "1" } : {}),
    ...(process.env.BLOB_CACHE_BYTES ? { BLOB_CACHE_BYTES: process.env.BLOB_CACHE_BYTES } : {}),
    // The gateway's IMAP_* settings (e.g. IMAP_MESSAGE_CACHE_BYTES=0 for an A/B run).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("IMAP_"))),
    ...(s3
      ? {
          S3_ENDPOINT: s3.endpoint,
          S3_BUCKET: s3.bucket,
          S3_REGION: s3.region,
          S3_ACCESS_KEY_ID: s3.accessKeyId,
          S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        }
      : { BLOB_DIR: join(dir, "blobs") }),
  };
  const nodeArgs = ["--import", "tsx"];
  if (CPU_PROF) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${resolve(CPU_PROF)}`);
  const child = spawn(process.execPath, [...nodeArgs, join(import.meta.dirname, "imap-gateway.ts")], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await waitForLine(child, "READY");
  return {
    port,
    pid: child.pid!,
    userTemplate: "bench%d@example.org",
    database: db.name,
    async stop() {
      child.kill("SIGTERM");
      await new Promise<void>((res) => {
        if (child.exitCode !== null) res();
        else child.once("exit", () => res());
      });
      await db.drop();
    },
  };
}

function waitForLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((res, rej) => {
    let out = "";
    const timer = setTimeout(
      () => rej(new Error(`gateway not ready in ${READY_SECS} s: ${out}`)),
      READY_SECS * 1000,
    );
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(line)) {
        clearTimeout(timer);
        res();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`gateway exited ${code}: ${out}`));
    });
  });
}

/** Dovecot as the reference: testkit's private instance, auth cache and process limits raised. */
async function startDovecot(): Promise<Server> {
  const dovecot = await startPrivateDovecot({
    protocols: ["imap"],
    users: Array.from({ length: USERS }, (_, i) => `bench${i + 1}`),
    password: PASSWORD,
    services: { imap: ["process_limit = 1024"] },
    settings: "auth_cache_size = 10M\ndefault_process_limit = 1024\ndefault_client_limit = 4096\n",
  });
  return { port: dovecot.ports.imap!, pid: dovecot.pid, userTemplate: "bench%d", stop: () => dovecot.stop() };
}

/** Smoke mode without imaptest: the bench's gateway answers a LOGIN, SELECT and APPEND. */
async function smokeCheck(port: number): Promise<void> {
  const c = await TextClient.open(port);
  await c.expect(/\* OK[^\r]*\r\n/);
  await c.say(`a LOGIN bench1@example.org ${PASSWORD}`, /a OK[^\r]*/);
  await c.say("b SELECT INBOX", /b OK[^\r]*/);
  const msg = "Subject: smoke\r\n\r\nsmoke\r\n";
  await c.say(`c APPEND INBOX {${msg.length}+}\r\n${msg}`, /c OK[^\r]*/);
  await c.quit("d LOGOUT");
  console.log("imaptest: not available; smoke mode checked LOGIN, SELECT and APPEND");
}

// ---- one run, the rounds, the table ----------------------------------------------

async function measure(server: Server, mbox: string, mix: Mix): Promise<RunResult> {
  const backends = server.database ? new BackendSampler(server.database) : null;
  await backends?.start();
  const before = await treeTicks(server.pid);
  const writesBefore = await treeWrites(server.pid);
  const result = await runImaptest(server.port, mbox, server.userTemplate, mix);
  const nodeTicks = (await treeTicks(server.pid)) - before;
  const writes = (await treeWrites(server.pid)) - writesBefore;
  const dbTicks = (await backends?.stop()) ?? 0;
  const load = await loadAverage();
  const rates = {} as Record<Measure, number>;
  for (const [name, columns] of MEASURES)
    rates[name] = columns.reduce((sum, c) => sum + (result.totals[c] ?? 0), 0) / SECS;
  const commands = Object.entries(result.totals)
    .filter(([name]) => name !== "Logo" || mix === "default")
    .reduce((sum, [, n]) => sum + (Number.isFinite(n) ? n : 0), 0);
  const cpuMs = ((nodeTicks + dbTicks) * 1000) / CLK_TCK;
  return {
    rates,
    commands,
    errors: result.errors,
    cpuMsPerCommand: commands > 0 ? cpuMs / commands : 0,
    writesPerCommand: commands > 0 ? writes / commands : 0,
    dbCpuShare: nodeTicks + dbTicks > 0 ? dbTicks / (nodeTicks + dbTicks) : 0,
    load,
    output: result.output,
  };
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0] ?? 0, median: median ?? 0, max: s[s.length - 1] ?? 0 };
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function printTable(mix: Mix, results: Map<string, RunResult[]>): void {
  const ours = results.get("aerogram") ?? [];
  const theirs = results.get("dovecot") ?? [];
  console.log(
    `\n== mix ${mix === "logout0" ? "logout=0 (sessions stay open)" : "default (login … logout)"}: ` +
      `${ours.length || theirs.length} round(s), users=${USERS} clients=${CLIENTS} secs=${SECS}, ` +
      `blobs=${BLOBS}, gateways=${GATEWAYS}`,
  );
  console.log(
    `${"per second".padEnd(10)} ${"aerogram min/median/max".padStart(26)} ${"dovecot min/median/max".padStart(26)} ${"ratio".padStart(7)}`,
  );
  for (const [name] of MEASURES) {
    const a = stats(ours.map((r) => r.rates[name]));
    const d = stats(theirs.map((r) => r.rates[name]));
    const cell = (s: typeof a, n: number) =>
      n ? `${fmt(s.min)}/${fmt(s.median)}/${fmt(s.max)}`.padStart(26) : "—".padStart(26);
    const ratio =
      ours.length && theirs.length && d.median > 0 ? `${(a.median / d.median).toFixed(2)}x` : "n/a";
    console.log(`${name.padEnd(10)} ${cell(a, ours.length)} ${cell(d, theirs.length)} ${ratio.padStart(7)}`);
  }
  const cpu = (rs: RunResult[]) => {
    const s = stats(rs.map((r) => r.cpuMsPerCommand));
    return rs.length ? `${s.min.toFixed(2)}/${s.median.toFixed(2)}/${s.max.toFixed(2)}` : "—";
  };
  const db = stats(ours.map((r) => r.dbCpuShare)).median;
  const writes = (rs: RunResult[]) => {
    const s = stats(rs.map((r) => r.writesPerCommand));
    return rs.length ? `${s.min.toFixed(2)}/${s.median.toFixed(2)}/${s.max.toFixed(2)}` : "—";
  };
  console.log(
    `${"CPU ms/cmd".padEnd(10)} ${cpu(ours).padStart(26)} ${cpu(theirs).padStart(26)}` +
      (ours.length ? `   (aerogram: ${(db * 100).toFixed(0)}% of it PostgreSQL)` : ""),
  );
  console.log(`${"writes/cmd".padEnd(10)} ${writes(ours).padStart(26)} ${writes(theirs).padStart(26)}`);
  console.log(
    `${"errors".padEnd(10)} ${ours
      .map((r) => r.errors)
      .join(",")
      .padStart(26)} ${theirs
      .map((r) => r.errors)
      .join(",")
      .padStart(26)}`,
  );
  console.log(`load avg   aerogram runs: ${ours.map((r) => r.load).join(" | ")}`);
  console.log(`           dovecot runs:  ${theirs.map((r) => r.load).join(" | ")}`);
  for (const [name, rs] of results) {
    if (!rs.length) continue;
    const median = (m: Measure) => fmt(stats(rs.map((r) => r.rates[m])).median);
    console.log(
      `${name.padEnd(9)} login/s ${median("LOGIN").padStart(8)}  FETCH/s ${median("FETCH").padStart(8)}  ` +
        `APPEND/s ${median("APPEND").padStart(8)}  errors ${rs.reduce((n, r) => n + r.errors, 0)}`,
    );
  }
}

async function main(): Promise<void> {
  if (!existsSync(IMAPTEST)) {
    if (!SMOKE) {
      console.log("imaptest: not available");
      return;
    }
    const dir = await tempDir("aerogram-imap-bench-");
    const aerogram = await startAerogram(dir.path, FIXED_PORT ?? (await freePort()), null);
    try {
      await smokeCheck(aerogram.port);
    } finally {
      await aerogram.stop();
      await dir.remove();
    }
    return;
  }
  const noDovecot = dovecotUnavailable(["imap"]);
  const servers = SERVERS.filter((s) => s !== "dovecot" || !noDovecot);
  if (servers.length < SERVERS.length)
    console.log(`dovecot: not available (${noDovecot}); measuring Aerogram alone`);
  if (SMOKE) console.log("dovecot: skipped (smoke mode)");
  const dir = await tempDir("aerogram-imap-bench-");
  await chmod(dir.path, 0o755); // imaptest reads the mbox under it
  const mbox = join(dir.path, "bench.mbox");
  await writeFile(mbox, generateMbox(MESSAGES));
  const s3 = BLOBS === "s3" ? await startS3() : null;
  const results = new Map<Mix, Map<string, RunResult[]>>();
  let run = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const mix of MIXES) {
        if (mix === "compliance") {
          for (const name of order) {
            const runDir = join(dir.path, `${name}-${run++}`);
            await mkdir(runDir);
            await chmod(runDir, 0o755);
            const server =
              name === "aerogram"
                ? await startAerogram(runDir, FIXED_PORT ?? (await freePort()), s3)
                : await startDovecot();
            try {
              const { summary, failed } = await runCompliance(server.port, server.userTemplate);
              console.log(`compliance ${name}: ${failed} failed\n${summary}`);
            } finally {
              await server.stop();
            }
          }
          continue;
        }
        for (const name of order) {
          const runDir = join(dir.path, `${name}-${run++}`);
          await mkdir(runDir);
          await chmod(runDir, 0o755);
          const server =
            name === "aerogram"
              ? await startAerogram(runDir, FIXED_PORT ?? (await freePort()), s3)
              : await startDovecot();
          let result: RunResult;
          try {
            result = await measure(server, mbox, mix);
          } finally {
            await server.stop();
          }
          const byServer = results.get(mix) ?? new Map<string, RunResult[]>();
          results.set(mix, byServer);
          byServer.set(name, [...(byServer.get(name) ?? []), result]);
          console.log(
            `round ${round + 1} ${mix.padEnd(8)} ${name.padEnd(9)} FETCH/s ${fmt(result.rates.FETCH)} APPEND/s ${fmt(result.rates.APPEND)} ` +
              `LOGIN/s ${fmt(result.rates.LOGIN)} commands ${result.commands} cpu ${result.cpuMsPerCommand.toFixed(2)} ms/cmd writes ${result.writesPerCommand.toFixed(2)}/cmd errors ${result.errors} load ${result.load}`,
          );
          if (result.errors > 0)
            console.log(
              result.output
                .split("\n")
                .filter((l) => l.startsWith("Error"))
                .slice(0, 10)
                .join("\n"),
            );
          if (process.env.BENCH_VERBOSE) console.log(result.output.slice(-3000));
        }
      }
    }
  } finally {
    await s3?.stop();
  }
  for (const [mix, byServer] of results) printTable(mix, byServer);
  if (process.env.BENCH_KEEP) console.log(`kept ${dir.path}`);
  else await dir.remove();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
