/**
 * `npm run bench` (services/smtp-in): issue 18's workload, Postfix's own test
 * client `smtp-source -s 20 -m 2000 -l 10240` (20 in flight, a new connection
 * per message, one recipient), against Aerogram's SMTP-in (real Postgres,
 * NATS and Redis when reachable, filesystem blobs, BENCH_WORKERS cluster
 * workers, default the cores) and a private Postfix delivering to a maildir,
 * in the same run: BENCH_ROUNDS (3) alternating rounds after a warm-up, each
 * with the load average and the CPU per message from /proc (Aerogram: its
 * processes and its PostgreSQL backends; Postfix: the master and its
 * children). "Stored" is end to end: Aerogram answers 250 only after the
 * commit; Postfix's figure waits until the maildir holds every message. Then
 * one run with s3rver blobs (BENCH_S3=0 skips it).
 *
 * Environment: BENCH_SENDERS (20), BENCH_SOURCE_MESSAGES (2000),
 * BENCH_SOURCE_BYTES (10240), BENCH_WORKERS, BENCH_ROUNDS, TEST_DATABASE_URL,
 * TEST_NATS_URL, TEST_REDIS_URL.
 */
import { spawn } from "node:child_process";
import cluster from "node:cluster";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { availableParallelism } from "node:os";
import { loadConfig } from "@aerogram/config";
import { createRuntime } from "@aerogram/runtime";
import {
  cpuDuring,
  createTestDatabase,
  loadAverage1,
  processName,
  processTree,
  startS3,
  summary,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  tempDir,
  uniqueId,
} from "@aerogram/testkit";
import pg from "pg";
import { optionsFromRuntime, SmtpInService } from "../src/index.ts";
import { postfixAvailable, startPrivatePostfix } from "./postfix.ts";

/** smtp-source's -s: messages in flight at once. */
const SENDERS = Number(process.env.BENCH_SENDERS ?? 20);
/** SMTP-in processes (node:cluster workers on one port), as AEROGRAM_WORKERS. */
const WORKERS = Number(process.env.BENCH_WORKERS ?? availableParallelism());
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** smtp-source's -m: messages per run, each on a new connection. */
const SOURCE_MESSAGES = Number(process.env.BENCH_SOURCE_MESSAGES ?? 2000);
const SOURCE_BYTES = Number(process.env.BENCH_SOURCE_BYTES ?? 10240);
const DOMAIN = "bench.test";
const POSTFIX_PORT = 25_250 + (process.pid % 1000);

function reachable(url: string, port: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: u.hostname, port: Number(u.port || port) });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * --serve: the SMTP-in service alone, configured from the environment, in
 * BENCH_WORKERS node:cluster workers sharing the port (the worker model of
 * `npm start`; this mode exists because the bench raises the rate limits).
 * Prints "PORT n" once every worker listens.
 */
async function serve(): Promise<void> {
  if (cluster.isPrimary) {
    const runtime = await createRuntime(loadConfig(), { service: "smtp-bench" });
    const recipients = Number(process.env.BENCH_ACCOUNTS ?? SENDERS);
    for (let i = 0; i < recipients; i++) {
      await runtime.store.accounts.create({ address: `bench${i}@${DOMAIN}`, password: "bench" });
    }
    await runtime.close();
    if (WORKERS > 1) {
      const ports: number[] = [];
      for (let i = 0; i < WORKERS; i++) {
        cluster.fork().on("message", (m: { port?: number }) => {
          if (typeof m.port === "number") ports.push(m.port);
          if (ports.length === WORKERS) console.log(`PORT ${ports[0]}`);
        });
      }
      process.on("SIGTERM", () => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
        cluster.on("exit", () => {
          if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
        });
      });
      return;
    }
  }
  const runtime = await createRuntime(loadConfig(), { service: "smtp-bench" });
  const service = new SmtpInService(
    runtime,
    optionsFromRuntime(runtime, {
      rateLimits: {
        connectionsPerIp: 10_000,
        messagesPerMinutePerIp: 1e9,
        messagesPerMinutePerRecipient: 1e9,
      },
    }),
  );
  const handle = await service.start();
  if (cluster.isWorker) process.send?.({ port: service.ports()[0] });
  else console.log(`PORT ${service.ports()[0]}`);
  process.on("SIGTERM", async () => {
    await handle.drain(2000);
    await runtime.close();
    process.exit(0);
  });
}

/** --s3: an s3rver in its own process (it is CPU-hungry JavaScript; not in the load generator's loop). */
async function serveS3(): Promise<void> {
  const s3 = await startS3();
  console.log(`S3 ${JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket })}`);
  process.on("SIGTERM", async () => {
    await s3.stop();
    process.exit(0);
  });
}

/** Runs this file in a mode and waits for the line it prints when ready. */
async function child(mode: string, env: NodeJS.ProcessEnv, ready: RegExp) {
  // BENCH_PROFILE_DIR: a CPU profile of the server and each worker (node --cpu-prof) on exit.
  const profile = process.env.BENCH_PROFILE_DIR
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
    : [];
  const proc = spawn(process.execPath, [...profile, "--import", "tsx", import.meta.filename, mode], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve(m);
    });
    proc.once("exit", (code) => reject(new Error(`${mode} exited with ${code}`)));
  });
  return {
    match,
    pid: proc.pid!,
    async stop() {
      proc.kill("SIGTERM");
      if (proc.exitCode === null) await new Promise((r) => proc.once("exit", r));
    },
  };
}

/** A server under test: where to send, which processes do its work, how many messages it has stored. */
interface Server {
  name: string;
  port: number;
  pids(): number[];
  /** Messages stored so far (Postfix: in the maildir; Aerogram: committed, known from the 250s). */
  delivered?: () => number;
  stop(): Promise<void>;
}

/** PIDs of the PostgreSQL backends serving one database (the server runs on this machine). */
async function backendPids(database: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
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

/** Aerogram's SMTP-in on real Postgres, NATS and Redis (when reachable), blobs on the filesystem or in s3rver. */
async function startAerogram(blobs: "fs" | "s3"): Promise<Server> {
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-smtp-bench-");
  const s3server = blobs === "s3" ? await child("--s3", process.env, /S3 (\{.*\})\n/) : undefined;
  const s3 = s3server
    ? {
        ...JSON.parse(s3server.match[1]!),
        region: "us-east-1",
        accessKeyId: "S3RVER",
        secretAccessKey: "S3RVER",
      }
    : undefined;
  const [nats, redis] = await Promise.all([reachable(TEST_NATS_URL, 4222), reachable(TEST_REDIS_URL, 6379)]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: String(Math.ceil(SENDERS / WORKERS) + 2),
    ...(s3
      ? {
          S3_BUCKET: s3.bucket,
          S3_ENDPOINT: s3.endpoint,
          S3_REGION: s3.region,
          S3_ACCESS_KEY_ID: s3.accessKeyId,
          S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        }
      : { BLOB_DIR: dir.path }),
    SMTP_PORT: "0",
    LOG_LEVEL: "warn",
    MAIL_HOSTNAME: "bench.aerogram.test",
    ...(nats ? { NATS_URL: TEST_NATS_URL, NATS_SUBJECT_PREFIX: `bench${uniqueId()}` } : {}),
    ...(redis ? { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: `bench${uniqueId()}:` } : {}),
  };
  console.log(
    `aerogram (${blobs}): ${WORKERS} worker(s), Postgres ${db.name}, blobs ${s3 ? `s3rver ${s3.endpoint}` : "on the filesystem"}, events ${nats ? "NATS" : "in-process"}, limits ${redis ? "Redis" : "in-memory"}`,
  );
  const server = await child("--serve", env, /PORT (\d+)/);
  const backends = await backendPids(db.name);
  return {
    name: blobs === "fs" ? "aerogram" : "aerogram-s3",
    port: Number(server.match[1]),
    pids: () => [...processTree(server.pid), ...backends],
    async stop() {
      await server.stop();
      await s3server?.stop();
      await db.drop();
      await dir.remove();
    },
  };
}

function startPostfix(): Server | string {
  const why = postfixAvailable();
  if (why) return why;
  const pf = startPrivatePostfix(POSTFIX_PORT, DOMAIN);
  return {
    name: "postfix",
    port: pf.port,
    pids: () => pf.pids(),
    delivered: () => pf.delivered(),
    stop: async () => pf.stop(),
  };
}

interface Run {
  /** Messages accepted (250) per second, smtp-source's wall time. */
  accepted: number;
  /** Messages stored per second: Aerogram = accepted (250 only after the commit); Postfix = in the maildir. */
  stored: number;
  cpuMsPerMessage: number;
  load1: number;
}

/** `smtp-source -s S -m M -l L`: M messages, S at a time, each on a new connection. */
async function smtpSource(port: number, messages: number): Promise<void> {
  const args = ["-s", String(SENDERS), "-m", String(messages), "-l", String(SOURCE_BYTES)];
  args.push("-f", "sender@client.test", "-t", `bench0@${DOMAIN}`, `127.0.0.1:${port}`);
  const proc = spawn("/usr/sbin/smtp-source", args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number | null>((r) => proc.once("exit", r));
  if (code !== 0) throw new Error(`smtp-source exited with ${code}: ${err.slice(-500)}`);
}

async function runOnce(server: Server, messages: number): Promise<Run> {
  const load1 = loadAverage1();
  const base = server.delivered?.() ?? 0;
  const started = performance.now();
  let acceptedMs = 0;
  const { cpu, perProcess } = await cpuDuring(server.pids, async () => {
    await smtpSource(server.port, messages);
    acceptedMs = performance.now() - started;
    if (!server.delivered) return;
    const deadline = Date.now() + 180_000;
    while (server.delivered() < base + messages && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
  });
  const storedMs = performance.now() - started;
  if (process.env.BENCH_VERBOSE) {
    const by = [...perProcess]
      .filter(([, c]) => c > 0)
      .map(([pid, c]) => `${processName(pid)}[${pid}] ${((c * 1000) / messages).toFixed(2)}`);
    console.log(`  ${server.name} CPU ms per message by process: ${by.join(", ")}`);
  }
  return {
    accepted: messages / (acceptedMs / 1000),
    stored: messages / ((server.delivered ? storedMs : acceptedMs) / 1000),
    cpuMsPerMessage: (cpu * 1000) / messages,
    load1,
  };
}

const f = (n: number, d = 0) => n.toFixed(d);

function line(label: string, values: number[], digits = 0, suffix = ""): void {
  const { min, median, max } = summary(values);
  console.log(
    `${label}: min ${f(min, digits)}${suffix}, median ${f(median, digits)}${suffix}, max ${f(max, digits)}${suffix}`,
  );
}

async function main(): Promise<void> {
  if (!existsSync("/usr/sbin/smtp-source")) {
    console.log("smtp-source (Postfix's test client) is not installed: nothing to measure with");
    return;
  }
  console.log(
    `smtp-in bench: smtp-source -s ${SENDERS} -m ${SOURCE_MESSAGES} -l ${SOURCE_BYTES} (new connection per message, 1 recipient), ${ROUNDS} alternating rounds`,
  );
  const servers: Server[] = [await startAerogram("fs")];
  try {
    const pf = process.env.BENCH_ONLY === "aerogram" ? "skipped (BENCH_ONLY=aerogram)" : startPostfix();
    if (typeof pf === "string") console.log(`postfix: not available (${pf})`);
    else servers.push(pf);
    // Warm-up: JIT, pools, Postfix's processes.
    for (const s of servers) await runOnce(s, Math.min(200, SOURCE_MESSAGES));
    const runs: Record<string, Run[]> = Object.fromEntries(servers.map((s) => [s.name, []]));
    console.log("\n| round | server | load1 | accepted msg/s | stored msg/s | CPU ms/msg |");
    for (let i = 0; i < ROUNDS; i++) {
      for (const s of i % 2 ? [...servers].reverse() : servers) {
        const r = await runOnce(s, SOURCE_MESSAGES);
        runs[s.name]!.push(r);
        console.log(
          `| ${i + 1} | ${s.name} | ${f(r.load1, 1)} | ${f(r.accepted)} | ${f(r.stored)} | ${f(r.cpuMsPerMessage, 2)} |`,
        );
      }
    }
    console.log("");
    for (const s of servers) {
      const rs = runs[s.name]!;
      line(
        `${s.name} accepted msg/s`,
        rs.map((r) => r.accepted),
      );
      line(
        `${s.name} stored msg/s (end to end)`,
        rs.map((r) => r.stored),
      );
      line(
        `${s.name} CPU ms per message`,
        rs.map((r) => r.cpuMsPerMessage),
        2,
      );
    }
    line(
      "load average (1 min)",
      Object.values(runs)
        .flat()
        .map((r) => r.load1),
      1,
    );
    const ours = runs.aerogram!;
    const theirs = runs.postfix;
    if (theirs) {
      line(
        "ratio aerogram/postfix end to end (committed vs in the maildir)",
        ours.map((r, i) => r.stored / theirs[i]!.stored),
        2,
        "x",
      );
      line(
        "ratio aerogram/postfix acceptance",
        ours.map((r, i) => r.accepted / theirs[i]!.accepted),
        2,
        "x",
      );
    }
  } finally {
    for (const s of servers) await s.stop();
  }
  if (process.env.BENCH_S3 !== "0") {
    const s3 = await startAerogram("s3");
    try {
      await runOnce(s3, Math.min(200, SOURCE_MESSAGES));
      const r = await runOnce(s3, SOURCE_MESSAGES);
      console.log(
        `aerogram with s3rver blobs (one run after the rounds): ${f(r.stored)} msg/s committed, CPU ${f(r.cpuMsPerMessage, 2)} ms/msg (s3rver's own CPU not counted), load ${f(r.load1, 1)}`,
      );
    } finally {
      await s3.stop();
    }
  }
}

if (process.argv.includes("--serve") || process.argv.includes("--s3")) {
  (process.argv.includes("--s3") ? serveS3() : serve()).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
