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
 *   BENCH_ROUNDS, BENCH_WORKERS, BENCH_ONLY=aerogram to skip Dovecot; BENCH_PHASES=sessions
 *   or retr for one phase only; BENCH_VERBOSE=1 for both servers' client-side time per
 *   session step and CPU per operation by process)
 *
 * Smoke mode (BENCH_SMOKE=1 or --smoke; libs/testkit bench.ts, run by
 * test/bench-smoke.test.ts): 2 clients, 5 messages, one worker, 1 s per phase,
 * one round, no Dovecot: the same code path in seconds.
 */
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Delivery } from "@aerogram/delivery";
import {
  benchKnob,
  benchSmoke,
  cleanEnv,
  cpuDuring,
  dovecotUnavailable,
  loadAverage1,
  postgresBackendPids,
  processName,
  processTree,
  startPrivateDovecot,
  startTestBackend,
  startTsProcess,
  summary,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  tcpReachable,
} from "@aerogram/testkit";
import { type Load, login, type Result } from "./pop3-clients.ts";

const SMOKE = benchSmoke();
const SECONDS = benchKnob("BENCH_SECONDS", 5, 1);
const CLIENTS = benchKnob("BENCH_CLIENTS", 4, 2);
const MESSAGES = benchKnob("BENCH_MESSAGES", 50, 5);
const PASSWORD = "bench-pass";
/** Aerogram's cluster workers (AEROGRAM_WORKERS); Dovecot always runs as many processes as it likes. */
const WORKERS = benchKnob("BENCH_WORKERS", availableParallelism(), 1);
const ROUNDS = benchKnob("BENCH_ROUNDS", 5, 1);
/**
 * Seconds of the sessions and the RETR phase before anything is measured
 * (BENCH_WARMUP: the sessions phase's; RETR's is half). On a machine at load
 * 30-40, Aerogram's CPU per session in the first measured rounds after a 3 s
 * warm-up was 2-3x that of the last ones (V8 optimises on background threads,
 * which wait for a CPU too): a gateway that runs for days is measured in its
 * steady state.
 */
const WARM_UP_SESSIONS = benchKnob("BENCH_WARMUP", 12, 1);
const WARM_UP = [WARM_UP_SESSIONS, Math.max(1, Math.round(WARM_UP_SESSIONS / 2))];
/** BENCH_PHASES=sessions (or retr): measure only that phase (for a profile of one workload). */
const PHASES = new Set((process.env.BENCH_PHASES || "sessions,retr").split(","));

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
  /**
   * Lists the processes again (the pool opens and closes PostgreSQL backends
   * as it likes: a list taken once at start-up misses those opened later).
   */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs one phase of the load in a child process (see pop3-clients.ts), so the
 * client's CPU never competes with an in-process gateway's event loop.
 */
async function runLoad(
  ports: number[],
  users: string[],
  phase: "sessions" | "retr",
  seconds = SECONDS,
): Promise<Result> {
  const load: Load = { ports, users, password: PASSWORD, seconds, messages: MESSAGES, phase };
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

/** The measured phases for a few seconds each, before anything is measured. */
async function warmUp(ports: number[], users: string[]): Promise<void> {
  if (PHASES.has("sessions")) await runLoad(ports, users, "sessions", WARM_UP[0]);
  if (PHASES.has("retr")) await runLoad(ports, users, "retr", WARM_UP[1]);
}

/**
 * `npm start` with only POP3 (AEROGRAM_SERVICES=pop3) and BENCH_WORKERS
 * workers, on the test Postgres, filesystem blobs and Redis when reachable
 * (else the in-process limiter the primary shares with its workers), filled
 * through the store first.
 */
async function startAerogram(messages: Buffer[], users: string[]): Promise<Server> {
  const redis = process.env.BENCH_LIMITER !== "memory" && (await tcpReachable(TEST_REDIS_URL, 6379));
  // Always the real PostgreSQL (not TEST_DATABASE=embedded): that is what the figures are about.
  const backend = await startTestBackend({
    database: "postgres",
    blobs: "fs",
    redis,
    settings: { LOG_LEVEL: "warn" },
  });
  const { db, env } = backend;
  const runtime = await backend.runtime("pop3-bench");
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
    // BENCH_PROFILE_DIR: a CPU profile of the primary and of each worker (node --cpu-prof) at exit.
    process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [],
  );
  const port = Number((await gateway.waitFor(/pop3 127\.0\.0\.1:(\d+)/, 120_000))[1]);
  console.log(
    `aerogram: ${WORKERS} worker(s), limiter ${env.REDIS_URL ? "redis" : "in-process (shared over IPC)"}, blobs on the filesystem, real Postgres`,
  );
  // Warm-up: every worker must have sized each blob and filled its login
  // cache (one scrypt per account) before anything is measured. Workers
  // accept for themselves, so which one gets a connection is up to the
  // kernel: a few seconds of both phases reach them all.
  await warmUp([port], users);
  let backends = await postgresBackendPids(TEST_DATABASE_URL, db.name);
  return {
    name: "aerogram",
    ports: [port],
    pids: () => [...processTree(gateway.child.pid!), ...backends],
    async refresh() {
      backends = await postgresBackendPids(TEST_DATABASE_URL, db.name);
    },
    async stop() {
      backends = [];
      await gateway.stop("SIGTERM");
      await backend.stop();
    },
  };
}

/**
 * A private Dovecot POP3 (libs/testkit dovecot.ts) with the same users and
 * messages: passwords as salted SHA-256 hashes ({SSHA256}, never {PLAIN}),
 * checked at the cost Aerogram pays per cached login (one SHA-256; its scrypt
 * runs once per cache lifetime).
 */
async function startDovecot(messages: Buffer[], users: string[]): Promise<Server | string> {
  const why = dovecotUnavailable(["pop3"]);
  if (why) return `not available (${why})`;
  let dovecot: Awaited<ReturnType<typeof startPrivateDovecot>>;
  try {
    dovecot = await startPrivateDovecot({
      protocols: ["pop3"],
      users,
      password: PASSWORD,
      passwordScheme: "SSHA256",
      mail: Object.fromEntries(users.map((u) => [u, messages])),
      // Dovecot's "high-performance" login mode and reused pop3 processes, so we
      // compare against Dovecot at its fastest rather than at its most isolated.
      services: {
        "pop3-login": ["service_count = 0", "process_min_avail = 2"],
        pop3: ["service_count = 0"],
      },
      // The same steady state as Aerogram's Authenticator: a remembered lookup (its
      // verified-login cache, 5 min) and one SHA-256 per login against a stored hash.
      // RFC 1939 §8: one session per maildrop, as Aerogram's lease (off by default in Dovecot).
      settings: "auth_cache_size = 10M\nauth_cache_ttl = 5 mins\npop3_lock_session = yes\n",
    });
  } catch (error) {
    return `failed: ${(error as Error).message}`;
  }
  const port = dovecot.ports.pop3!;
  try {
    for (const u of users) (await login(port, u, PASSWORD)).close();
    // The same warm-up as Aerogram's.
    await warmUp([port], users);
  } catch (error) {
    await dovecot.stop();
    return `failed: ${(error as Error).message} (see ${dovecot.dir}/dovecot.log)`;
  }
  return {
    name: "dovecot",
    ports: [port],
    pids: () => processTree(dovecot.pid),
    refresh: async () => {},
    stop: () => dovecot.stop(),
  };
}

type Phase = "sessions" | "retr";

/** One phase on one server: its rate, CPU per operation (ms), and for RETR its MB/s. */
interface Measured {
  /** Sessions that failed (-ERR, a dropped connection); the client went on with the next. */
  errors: number;
  perSecond: number;
  cpuMs: number;
  mbPerSecond: number;
}

interface Round {
  load1: number;
  /** phase → server name → figures; a phase left out by BENCH_PHASES is absent. */
  phases: Partial<Record<Phase, Record<string, Measured>>>;
}

async function measurePhase(server: Server, users: string[], phase: Phase): Promise<Measured> {
  await server.refresh();
  const m = await cpuDuring(server.pids, async () => {
    const result = await runLoad(server.ports, users, phase);
    // Backends the pool opened during the phase count too (from 0: they are new).
    await server.refresh();
    return result;
  });
  const perSecond = phase === "sessions" ? m.result.sessionsPerSecond : m.result.retrPerSecond;
  const operations = perSecond * SECONDS;
  const unit = phase === "sessions" ? "session" : "RETR";
  if (process.env.BENCH_VERBOSE) {
    const by = [...m.perProcess]
      .filter(([, cpu]) => cpu > 0)
      .map(([pid, cpu]) => `${processName(pid)}[${pid}] ${((cpu * 1000) / operations).toFixed(3)}`);
    console.log(`  ${server.name} CPU ms per ${unit} by process: ${by.join(", ")}`);
    if (phase === "sessions") {
      const steps = Object.entries(m.result.stepMs).map(([k, v]) => `${k} ${v.toFixed(2)}`);
      console.log(`  ${server.name} ms per session step (client side): ${steps.join(", ")}`);
    }
  }
  if (m.result.errors > 0) console.log(`  ${server.name} ${phase}: ${m.result.errors} failed sessions`);
  return {
    errors: m.result.errors,
    perSecond,
    cpuMs: (m.cpu * 1000) / operations,
    mbPerSecond: m.result.mbPerSecond,
  };
}

async function measureRound(servers: Server[], users: string[]): Promise<Round> {
  const round: Round = { load1: loadAverage1(), phases: {} };
  for (const server of servers) {
    for (const phase of ["sessions", "retr"] as const) {
      if (!PHASES.has(phase)) continue;
      const figures = round.phases[phase] ?? {};
      round.phases[phase] = figures;
      figures[server.name] = await measurePhase(server, users, phase);
    }
  }
  return round;
}

const fmt = (n: number, digits = 0) => n.toFixed(digits);

function report(rounds: Round[], names: string[]): void {
  const ours = names[0]!;
  const theirs = names[1];
  const phases = (["sessions", "retr"] as const).filter((p) => PHASES.has(p));
  const label = { sessions: "sessions/s", retr: "RETR/s" } as const;
  const of = (r: Round, p: Phase, n: string) => r.phases[p]![n]!;
  console.log("");
  const heads = [
    ...names.flatMap((n) => phases.map((p) => `${n} ${label[p]}`)),
    ...(theirs ? phases.map((p) => `ratio ${label[p]}`) : []),
  ];
  console.log(`| round | load1 | ${heads.join(" | ")} |`);
  console.log(`|${" --- |".repeat(heads.length + 2)}`);
  rounds.forEach((r, i) => {
    const cells = names.flatMap((n) => phases.map((p) => fmt(of(r, p, n).perSecond)));
    const ratios = theirs
      ? phases.map((p) => `${fmt(of(r, p, ours).perSecond / of(r, p, theirs).perSecond, 2)}x`)
      : [];
    console.log(`| ${i + 1} | ${fmt(r.load1, 1)} | ${[...cells, ...ratios].join(" | ")} |`);
  });
  const line = (text: string, values: number[], digits = 0, suffix = "") => {
    const { min, median, max } = summary(values);
    console.log(
      `${text}: min ${fmt(min, digits)}${suffix}, median ${fmt(median, digits)}${suffix}, max ${fmt(max, digits)}${suffix}`,
    );
  };
  console.log("");
  line(
    "load average (1 min)",
    rounds.map((r) => r.load1),
    1,
  );
  for (const n of names) {
    for (const p of phases) {
      line(
        `${n} ${label[p]}`,
        rounds.map((r) => of(r, p, n).perSecond),
      );
      if (p === "retr")
        line(
          `${n} MB/s`,
          rounds.map((r) => of(r, p, n).mbPerSecond),
          1,
        );
      line(
        `${n} CPU ms per ${p === "sessions" ? "session" : "RETR"}`,
        rounds.map((r) => of(r, p, n).cpuMs),
        p === "sessions" ? 2 : 3,
      );
    }
  }
  for (const n of names) {
    const failed = rounds.reduce((a, r) => a + phases.reduce((b, p) => b + of(r, p, n).errors, 0), 0);
    console.log(`${n} failed sessions (all rounds): ${failed}`);
  }
  // One line per server with its medians (what the smoke test checks).
  const median = (values: number[]) => summary(values).median;
  for (const n of names) {
    const rate = (p: Phase) => (PHASES.has(p) ? median(rounds.map((r) => of(r, p, n).perSecond)) : 0);
    const mbps = PHASES.has("retr") ? median(rounds.map((r) => of(r, "retr", n).mbPerSecond)) : 0;
    console.log(
      `${n}: ${fmt(rate("sessions"))} sessions/s, ${fmt(rate("retr"))} RETR/s, ${fmt(mbps, 1)} MB/s`,
    );
  }
  if (theirs) {
    for (const p of phases) {
      line(
        `ratio ${label[p]}`,
        rounds.map((r) => of(r, p, ours).perSecond / of(r, p, theirs).perSecond),
        2,
        "x",
      );
      line(
        `ratio CPU per ${p === "sessions" ? "session" : "RETR"} (ours / theirs)`,
        rounds.map((r) => of(r, p, ours).cpuMs / of(r, p, theirs).cpuMs),
        2,
        "x",
      );
    }
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
  const dovecot = SMOKE
    ? "skipped (smoke mode)"
    : process.env.BENCH_ONLY === "aerogram"
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
