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
 *   BENCH_REPLICAS=2 runs a second Aerogram gateway process, clients spread over both)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "@aerogram/config";
import { Delivery } from "@aerogram/delivery";
import { createRuntime } from "@aerogram/runtime";
import { createTestDatabase, TEST_REDIS_URL, tempDir, uniqueId } from "@aerogram/testkit";
import { createPop3Service } from "../src/service.ts";
import { Client, type Load, login, measure, type Result } from "./pop3-clients.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50);
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

async function benchAerogram(messages: Buffer[], users: string[]): Promise<Result> {
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-pop3-bench-");
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    BLOB_DIR: join(dir.path, "blobs"),
    LOG_LEVEL: "warn",
    REDIS_KEY_PREFIX: `bench${uniqueId()}:`,
  };
  if (process.env.BENCH_LIMITER !== "memory" && (await redisReachable())) env.REDIS_URL = TEST_REDIS_URL;
  const runtime = await createRuntime(loadConfig(env), { service: "pop3-bench" });
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
        if (v.metricName?.endsWith("_sum"))
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
    await db.drop();
    await dir.remove();
  }
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

async function benchDovecot(messages: Buffer[], users: string[]): Promise<Result | string> {
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
  try {
    for (let i = 0; ; i++) {
      try {
        (await Client.open(port)).close();
        break;
      } catch {
        if (i > 50) return `did not start (see ${dir.path}/dovecot.log)`;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const u of users) (await login(port, u, PASSWORD)).close();
    return await runLoad([port], users);
  } catch (error) {
    return `failed: ${(error as Error).message}`;
  } finally {
    proc.kill("SIGTERM");
    await new Promise((r) => proc.once("exit", r));
    if (!process.env.BENCH_KEEP_DOVECOT) await dir.remove();
    else console.log(`dovecot files kept in ${dir.path}`);
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
const theirs =
  process.env.BENCH_ONLY === "aerogram"
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
