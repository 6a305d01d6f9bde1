/**
 * POP3 benchmark: sessions/s (connect, login, STAT, QUIT), RETR/s and MB/s
 * against Aerogram and, in the same run, a private Dovecot POP3 (when
 * installed), both filled with the same messages. Prints the ratio.
 *
 * Aerogram runs in this process on the test Postgres (TEST_DATABASE_URL),
 * filesystem blobs and Redis (TEST_REDIS_URL) when reachable. Dovecot runs
 * from a config under a temp directory on a loopback port (passwd-file auth
 * with salted SHA-256 hashes and the auth cache, maildir, the POP3 session
 * lock, ssl=no); nothing is installed or left behind.
 *
 *   npm run bench -w @aerogram/pop3    (env: BENCH_SECONDS, BENCH_CLIENTS, BENCH_MESSAGES,
 *   BENCH_ONLY=aerogram to skip Dovecot, e.g. under --cpu-prof; BENCH_VERBOSE=1 for
 *   Aerogram's per-command totals and both servers' client-side time per session step;
 *   BENCH_REPLICAS=2 runs a second Aerogram gateway process, clients spread over both;
 *   BENCH_SMOKE=1: 2 clients, 5 messages, 1 s, no Dovecot — the smoke test in npm test)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Delivery } from "@aerogram/delivery";
import {
  benchKnob,
  benchSmoke,
  dovecotUnavailable,
  serversReachable,
  startPrivateDovecot,
  startTestBackend,
} from "@aerogram/testkit";
import { createPop3Service } from "../src/service.ts";
import { type Load, login, measure, type Result } from "./pop3-clients.ts";

const SECONDS = benchKnob("BENCH_SECONDS", 5, 1);
const CLIENTS = benchKnob("BENCH_CLIENTS", 4, 2);
const MESSAGES = benchKnob("BENCH_MESSAGES", 50, 5);
const PASSWORD = "bench-pass";
/** Aerogram gateway processes (1: this process only); Dovecot always runs as it likes. */
const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 1);

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

/**
 * Runs the load in a child process (see pop3-clients.ts), or in this process
 * with BENCH_CLIENTS_IN_PROCESS=1 (how the first figures were measured).
 */
async function runLoad(ports: number[], users: string[]): Promise<Result> {
  const load: Load = { ports, users, password: PASSWORD, seconds: SECONDS, messages: MESSAGES };
  if (process.env.BENCH_CLIENTS_IN_PROCESS === "1") return measure(load);
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

/**
 * Another gateway process on the same database, blobs and Redis (the test
 * fixture that prints "pop3 port N"): a second replica, as deployed behind a
 * balancer. Only with BENCH_REPLICAS > 1.
 */
async function startReplica(env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL("../test/fixtures/gateway.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("replica did not start within 20 s")), 20_000);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /pop3 port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`replica exited with ${code}`)));
  });
  return { child, port };
}

async function benchAerogram(messages: Buffer[], users: string[]): Promise<Result> {
  const redis = process.env.BENCH_LIMITER !== "memory" && (await serversReachable(["redis"]));
  const backend = await startTestBackend({
    database: "postgres",
    blobs: "fs",
    redis,
    settings: { LOG_LEVEL: "warn" },
  });
  const env = backend.env;
  const runtime = await backend.runtime("pop3-bench");
  const replicas: ChildProcess[] = [];
  const pop3 = await createPop3Service(runtime, { host: "127.0.0.1", port: 0 });
  try {
    const delivery = new Delivery(runtime);
    for (const u of users) {
      const account = await runtime.store.accounts.create({ address: u, password: PASSWORD });
      const inbox = await runtime.store.mailboxes.byName(account.id, "INBOX");
      for (const m of messages) await delivery.deliver(m, [{ mailboxId: inbox!.id }]);
    }
    console.log(
      `aerogram: limiter ${env.REDIS_URL ? "redis" : "memory"}, blobs on the filesystem, real Postgres`,
    );
    // Replicas share the maildrop lock and session counts only through Redis.
    if (REPLICAS > 1 && !env.REDIS_URL) throw new Error("BENCH_REPLICAS > 1 needs Redis");
    const ports = [pop3.port];
    for (let i = 1; i < REPLICAS; i++) {
      const replica = await startReplica({ ...env, LOG_LEVEL: "warn" });
      replicas.push(replica.child);
      ports.push(replica.port);
    }
    if (REPLICAS > 1) console.log(`aerogram: ${REPLICAS} gateway processes, clients spread over them`);
    // One warm-up session per user and process (sizes each blob once, fills the login caches).
    for (const p of ports) for (const u of users) (await login(p, u, PASSWORD)).close();
    const result = await runLoad(ports, users);
    if (process.env.BENCH_VERBOSE) {
      const durations = await runtime.metrics
        .getSingleMetric("aerogram_pop3_command_duration_seconds")
        ?.get();
      for (const v of durations?.values ?? []) {
        if ((v as { metricName?: string }).metricName?.endsWith("_sum"))
          console.log(`  ${v.labels.command}: ${(v.value * 1000).toFixed(0)} ms total`);
      }
    }
    return result;
  } finally {
    for (const child of replicas) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    await pop3.drain(100);
    await runtime.close();
    await backend.stop();
  }
}

/**
 * A private Dovecot POP3 (libs/testkit) with the same users and messages:
 * salted SHA-256 passwords (never {PLAIN}), checked at the cost Aerogram pays
 * per cached login (one SHA-256; its scrypt runs once per cache lifetime).
 */
async function benchDovecot(messages: Buffer[], users: string[]): Promise<Result | string> {
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
      services: { "pop3-login": ["service_count = 0", "process_min_avail = 2"], pop3: ["service_count = 0"] },
      settings: `# The same steady state as Aerogram's Authenticator: a remembered lookup (its
# verified-login cache, 5 min) and one SHA-256 per login against a stored hash.
auth_cache_size = 10M
auth_cache_ttl = 5 mins
# RFC 1939 §8: one session per maildrop, as Aerogram's lease (off by default in Dovecot).
pop3_lock_session = yes
`,
    });
  } catch (error) {
    return `did not start: ${(error as Error).message}`;
  }
  try {
    const port = dovecot.ports.pop3!;
    for (const u of users) (await login(port, u, PASSWORD)).close();
    return await runLoad([port], users);
  } catch (error) {
    return `failed: ${(error as Error).message}`;
  } finally {
    await dovecot.stop();
  }
}

function show(name: string, r: Result): void {
  console.log(
    `${name}: ${r.sessionsPerSecond.toFixed(0)} sessions/s, ${r.retrPerSecond.toFixed(0)} RETR/s, ${r.mbPerSecond.toFixed(1)} MB/s`,
  );
  if (process.env.BENCH_VERBOSE) {
    const steps = Object.entries(r.stepMs).map(([k, v]) => `${k} ${v.toFixed(2)}`);
    console.log(`  ${name} ms per session step (client side): ${steps.join(", ")}`);
  }
}

const messages = corpus();
const mb = messages.reduce((n, m) => n + m.length, 0) / 1e6;
console.log(
  `pop3 bench: ${CLIENTS} clients, ${MESSAGES} messages each (${mb.toFixed(1)} MB), ${SECONDS} s per phase`,
);
const users = Array.from({ length: CLIENTS }, (_, i) => `bench${i}@example.org`);
const ours = await benchAerogram(messages, users);
show("aerogram", ours);
const theirs = benchSmoke()
  ? "skipped (smoke mode)"
  : process.env.BENCH_ONLY === "aerogram"
    ? "skipped (BENCH_ONLY=aerogram)"
    : await benchDovecot(messages, users);
if (typeof theirs === "string") {
  console.log(`dovecot: ${theirs}`);
} else {
  show("dovecot", theirs);
  console.log(
    `ratio aerogram/dovecot: sessions ${(ours.sessionsPerSecond / theirs.sessionsPerSecond).toFixed(2)}x, RETR ${(ours.retrPerSecond / theirs.retrPerSecond).toFixed(2)}x, MB/s ${(ours.mbPerSecond / theirs.mbPerSecond).toFixed(2)}x`,
  );
}
process.exit(0);
