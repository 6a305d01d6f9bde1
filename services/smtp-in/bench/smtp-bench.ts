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
 * Environment: BENCH_ONLY=aerogram (no Postfix), BENCH_GROUP_COMMIT=0 (each
 * delivery its own transaction), BENCH_SENDER=in-process (the in-process sender even with
 * smtp-source installed; with BENCH_VERBOSE it prints the reply wait per step), BENCH_PROFILE_DIR (node --cpu-prof of the
 * server), BENCH_VERBOSE (CPU per process), BENCH_SENDERS (20), BENCH_SOURCE_MESSAGES (2000),
 * BENCH_SOURCE_BYTES (10240), BENCH_WORKERS, BENCH_ROUNDS, TEST_DATABASE_URL,
 * TEST_NATS_URL, TEST_REDIS_URL.
 *
 * Without /usr/sbin/smtp-source (Debian's postfix package) the same workload
 * comes from a small in-process sender (a new connection per message,
 * BENCH_SENDERS at a time). Smoke mode (BENCH_SMOKE=1 or --smoke; libs/testkit
 * bench.ts, run by test/bench-smoke.test.ts): the in-process sender, 4 at a
 * time, 40 messages a run, one worker, one round, no Postfix, then the s3rver
 * run: the same code path in seconds.
 */
import { spawn } from "node:child_process";
import cluster from "node:cluster";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { availableParallelism } from "node:os";
import { loadConfig } from "@aerogram/config";
import { createRuntime } from "@aerogram/runtime";
import {
  backendEnv,
  benchKnob,
  benchSmoke,
  cpuDuring,
  createTestDatabase,
  loadAverage1,
  postfixAvailable,
  postgresBackendPids,
  processName,
  processTree,
  startPrivatePostfix,
  startS3,
  summary,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  tcpReachable,
  tempDir,
} from "@aerogram/testkit";
import { optionsFromRuntime, SmtpInService } from "../src/index.ts";

const SMOKE = benchSmoke();
/** smtp-source's -s: messages in flight at once. */
const SENDERS = benchKnob("BENCH_SENDERS", 20, 4);
/** SMTP-in processes (node:cluster workers on one port), as AEROGRAM_WORKERS. */
const WORKERS = benchKnob("BENCH_WORKERS", availableParallelism(), 1);
const ROUNDS = benchKnob("BENCH_ROUNDS", 3, 1);
/** smtp-source's -m: messages per run, each on a new connection. */
const SOURCE_MESSAGES = benchKnob("BENCH_SOURCE_MESSAGES", 2000, 40);
const SOURCE_BYTES = benchKnob("BENCH_SOURCE_BYTES", 10240, 10240);
/** Messages of the warm-up run before the rounds (JIT, pools, Postfix's processes). */
const WARM_UP = Math.min(SMOKE ? 10 : 200, SOURCE_MESSAGES);
const DOMAIN = "bench.test";
const POSTFIX_PORT = 25_250 + (process.pid % 1000);
const SMTP_SOURCE = "/usr/sbin/smtp-source";
/** Postfix's smtp-source when installed (and not in smoke mode), else the in-process sender. */
const USE_SMTP_SOURCE = !SMOKE && process.env.BENCH_SENDER !== "in-process" && existsSync(SMTP_SOURCE);
/** Milliseconds each step of the in-process sender waited for its reply, summed over every message. */
const stepWaits = new Map<string, number>();

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
      // As npm start's primary: workers accept on the shared socket themselves.
      cluster.schedulingPolicy = cluster.SCHED_NONE;
      const ports: number[] = [];
      for (let i = 0; i < WORKERS; i++) {
        cluster.fork().on("message", (m: { port?: number }) => {
          if (typeof m.port === "number") ports.push(m.port);
          if (ports.length === WORKERS) console.log(`PORT ${ports[0]}`);
        });
      }
      // SIGUSR2: every worker's Postgres statement count, summed, as "STATS n" (statements per message).
      process.on("SIGUSR2", () => {
        const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
        let sum = 0;
        let answered = 0;
        for (const w of workers) {
          const onStats = (m: { statements?: number }) => {
            if (typeof m.statements !== "number") return;
            w.off("message", onStats);
            sum += m.statements;
            if (++answered === workers.length) console.log(`STATS ${sum}`);
          };
          w.on("message", onStats);
          w.send("stats");
        }
      });
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
    // The rate limits come from the environment like any deployment's (SMTP_*; raised in startAerogram).
    optionsFromRuntime(runtime, {
      // BENCH_GROUP_COMMIT=0: every delivery its own transaction (for a before/after).
      ...(process.env.BENCH_GROUP_COMMIT === "0" ? { groupCommit: { maxGroup: 1, maxInFlight: 1_000 } } : {}),
    }),
  );
  const handle = await service.start();
  // Postgres statements (round trips) so far: the count of the store's query-duration histogram.
  const statements = async () => {
    const metric = await runtime.metrics.getSingleMetric("aerogram_pg_query_duration_seconds")?.get();
    return ((metric?.values ?? []) as { metricName?: string; value: number }[])
      .filter((v) => v.metricName === "aerogram_pg_query_duration_seconds_count")
      .reduce((sum, v) => sum + v.value, 0);
  };
  if (cluster.isWorker) {
    process.on("message", async (m) => {
      if (m === "stats") process.send?.({ statements: await statements() });
    });
    process.send?.({ port: service.ports()[0] });
  } else {
    process.on("SIGUSR2", async () => console.log(`STATS ${await statements()}`));
    console.log(`PORT ${service.ports()[0]}`);
  }
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
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const m = ready.exec(out);
      if (m) {
        proc.stdout!.off("data", check);
        resolve(m);
      }
    };
    proc.stdout!.on("data", check);
    proc.once("exit", (code) => reject(new Error(`${mode} exited with ${code}`)));
  });
  return {
    match,
    pid: proc.pid!,
    /** The server's Postgres statement count so far (SIGUSR2 → "STATS n"). */
    async statements(): Promise<number> {
      const from = out.length;
      proc.kill("SIGUSR2");
      for (let waited = 0; waited < 10_000; waited += 20) {
        const m = /STATS (\d+)/.exec(out.slice(from));
        if (m) return Number(m[1]);
        await new Promise((r) => setTimeout(r, 20));
      }
      return Number.NaN;
    },
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
  /** Re-reads the processes to count (Postgres backends come and go with the pool). */
  refreshPids?: () => Promise<void>;
  /** Postgres statements sent so far (Aerogram). */
  statements?: () => Promise<number>;
  stop(): Promise<void>;
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
  const [nats, redis] = await Promise.all([
    tcpReachable(TEST_NATS_URL, 4222),
    tcpReachable(TEST_REDIS_URL, 6379),
  ]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // testkit's one environment block: database, blobs (s3rver or the filesystem), own NATS/Redis prefixes.
    ...backendEnv({
      databaseUrl: db.url,
      ...(s3 ? { s3 } : { dataDir: dir.path }),
      nats,
      redis,
      settings: {
        DATABASE_POOL_MAX: String(Math.ceil(SENDERS / WORKERS) + 2),
        SMTP_PORT: "0",
        // One client IP sends everything: the limits are raised as an operator would (README, Limits),
        // still checked in Redis for every connection and message; set them in the environment to change.
        SMTP_MAX_CONNECTIONS_PER_IP: process.env.SMTP_MAX_CONNECTIONS_PER_IP ?? "10000",
        SMTP_MESSAGES_PER_MINUTE_PER_IP: process.env.SMTP_MESSAGES_PER_MINUTE_PER_IP ?? "1000000000",
        SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT:
          process.env.SMTP_MESSAGES_PER_MINUTE_PER_RECIPIENT ?? "1000000000",
        LOG_LEVEL: "warn",
        MAIL_HOSTNAME: "bench.aerogram.test",
      },
    }),
  };
  console.log(
    `aerogram (${blobs}): ${WORKERS} worker(s), Postgres ${db.name}, blobs ${s3 ? `s3rver ${s3.endpoint}` : "on the filesystem"}, events ${nats ? "NATS" : "in-process"}, limits ${redis ? "Redis" : "in-memory"}`,
  );
  const server = await child("--serve", env, /PORT (\d+)/);
  let backends = await postgresBackendPids(TEST_DATABASE_URL, db.name);
  return {
    name: blobs === "fs" ? "aerogram" : "aerogram-s3",
    port: Number(server.match[1]),
    pids: () => [...processTree(server.pid), ...backends],
    refreshPids: async () => {
      backends = await postgresBackendPids(TEST_DATABASE_URL, db.name);
    },
    statements: () => server.statements(),
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
  if (why) return `not available (${why})`;
  const pf = startPrivatePostfix(POSTFIX_PORT, { deliverDomain: DOMAIN });
  return {
    name: "postfix",
    port: pf.port,
    pids: () => pf.pids(),
    delivered: () => pf.delivered(),
    stop: async () => pf.stop(),
  };
}

interface Run {
  /** Messages not accepted (anything but 250 after the data, or a dropped connection). */
  failed: number;
  /** Messages accepted (250) per second, smtp-source's wall time. */
  accepted: number;
  /** Messages stored per second: Aerogram = accepted (250 only after the commit); Postfix = in the maildir. */
  stored: number;
  cpuMsPerMessage: number;
  /** Postgres statements (round trips) per message; NaN for Postfix. */
  statementsPerMessage: number;
  load1: number;
}

/** `smtp-source -s S -m M -l L`: M messages, S at a time, each on a new connection. */
async function smtpSource(port: number, messages: number): Promise<number> {
  const args = ["-s", String(SENDERS), "-m", String(messages), "-l", String(SOURCE_BYTES)];
  args.push("-f", "sender@client.test", "-t", `bench0@${DOMAIN}`, `127.0.0.1:${port}`);
  const proc = spawn(SMTP_SOURCE, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number | null>((r) => proc.once("exit", r));
  if (code !== 0) throw new Error(`smtp-source exited with ${code}: ${err.slice(-500)}`);
  // smtp-source gives up (exit status) on any reply it did not expect.
  return 0;
}

/** An smtp-source-like message: a few headers and SOURCE_BYTES of 80-column body. */
function sourceMessage(): string {
  const line = `${"x".repeat(78)}\r\n`;
  const body = line.repeat(Math.ceil(SOURCE_BYTES / line.length)).slice(0, SOURCE_BYTES);
  return `From: <sender@client.test>\r\nTo: <bench0@${DOMAIN}>\r\nSubject: bench\r\n\r\n${body.trimEnd()}\r\n.\r\n`;
}

/**
 * One message on its own connection, as smtp-source sends it (EHLO, MAIL,
 * RCPT, DATA, QUIT); true when the server answered 250 to the data.
 */
async function sendOne(port: number, message: string): Promise<boolean> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.setEncoding("latin1");
  let buffer = "";
  let closed = false;
  let wake: (() => void) | undefined;
  socket.on("data", (d: string) => {
    buffer += d;
    wake?.();
  });
  const end = () => {
    closed = true;
    wake?.();
  };
  socket.on("close", end);
  socket.on("error", end);
  const reply = async (): Promise<string> => {
    for (;;) {
      // A reply ends with a line "NNN text", no hyphen after the code (RFC 5321 §4.2.1).
      const m = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer);
      if (m) {
        buffer = buffer.slice(m.index + m[0].length);
        return m[1]!;
      }
      if (closed) return "closed";
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  };
  try {
    const steps: [string | undefined, string][] = [
      [undefined, "220"],
      ["EHLO client.test", "250"],
      ["MAIL FROM:<sender@client.test>", "250"],
      [`RCPT TO:<bench0@${DOMAIN}>`, "250"],
      ["DATA", "354"],
    ];
    for (const [command, expected] of steps) {
      const sent = performance.now();
      if (command) socket.write(`${command}\r\n`);
      const code = await reply();
      const step = command?.split(/[ :]/)[0] ?? "greeting";
      stepWaits.set(step, (stepWaits.get(step) ?? 0) + performance.now() - sent);
      if (code !== expected) return false;
    }
    const sent = performance.now();
    socket.write(message);
    const accepted = (await reply()) === "250";
    stepWaits.set("end of data", (stepWaits.get("end of data") ?? 0) + performance.now() - sent);
    socket.write("QUIT\r\n");
    await reply();
    return accepted;
  } finally {
    socket.destroy();
  }
}

/** The in-process stand-in for smtp-source: `messages` messages, SENDERS in flight; resolves with the failures. */
async function inProcessSource(port: number, messages: number): Promise<number> {
  const message = sourceMessage();
  let next = 0;
  let failed = 0;
  const sender = async () => {
    while (next < messages) {
      next++;
      if (!(await sendOne(port, message))) failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(SENDERS, messages) }, sender));
  return failed;
}

async function runOnce(server: Server, messages: number): Promise<Run> {
  const load1 = loadAverage1();
  const base = server.delivered?.() ?? 0;
  const started = performance.now();
  let acceptedMs = 0;
  let failed = 0;
  let storedMs = 0;
  await server.refreshPids?.();
  const statementsBefore = (await server.statements?.()) ?? Number.NaN;
  const { cpu, perProcess } = await cpuDuring(server.pids, async () => {
    failed = await (USE_SMTP_SOURCE ? smtpSource : inProcessSource)(server.port, messages);
    acceptedMs = performance.now() - started;
    if (server.delivered) {
      const deadline = Date.now() + 180_000;
      while (server.delivered() < base + messages - failed && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
    }
    storedMs = performance.now() - started;
    // Backends the pool opened during the run count too (their whole CPU: they are new).
    await server.refreshPids?.();
  });
  const statements = ((await server.statements?.()) ?? Number.NaN) - statementsBefore;
  if (process.env.BENCH_VERBOSE && stepWaits.size > 0) {
    const each = [...stepWaits].map(([step, ms]) => `${step} ${(ms / messages).toFixed(1)}`);
    console.log(`  ${server.name} reply wait ms per message by step: ${each.join(", ")}`);
    stepWaits.clear();
  }
  if (process.env.BENCH_VERBOSE) {
    const by = [...perProcess]
      .filter(([, c]) => c > 0)
      .map(([pid, c]) => `${processName(pid)}[${pid}] ${((c * 1000) / messages).toFixed(2)}`);
    console.log(`  ${server.name} CPU ms per message by process: ${by.join(", ")}`);
  }
  return {
    failed,
    accepted: (messages - failed) / (acceptedMs / 1000),
    stored: (messages - failed) / ((server.delivered ? storedMs : acceptedMs) / 1000),
    cpuMsPerMessage: (cpu * 1000) / messages,
    statementsPerMessage: statements / messages,
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
  const client = USE_SMTP_SOURCE ? "smtp-source" : "in-process smtp-source stand-in";
  console.log(
    `smtp-in bench: ${client} -s ${SENDERS} -m ${SOURCE_MESSAGES} -l ${SOURCE_BYTES} (new connection per message, 1 recipient), ${ROUNDS} alternating rounds`,
  );
  const servers: Server[] = [await startAerogram("fs")];
  /** Postfix's median end-to-end rate, for the s3rver run's ratio. */
  let postfixMedian: number | undefined;
  try {
    const pf = SMOKE
      ? "skipped (smoke mode)"
      : process.env.BENCH_ONLY === "aerogram"
        ? "skipped (BENCH_ONLY=aerogram)"
        : startPostfix();
    if (typeof pf === "string") console.log(`postfix: ${pf}`);
    else servers.push(pf);
    // Warm-up: JIT, pools, Postfix's processes.
    for (const s of servers) await runOnce(s, WARM_UP);
    const runs: Record<string, Run[]> = Object.fromEntries(servers.map((s) => [s.name, []]));
    console.log(
      "\n| round | server | load1 | accepted msg/s | stored msg/s | CPU ms/msg | PG statements/msg | failed |",
    );
    for (let i = 0; i < ROUNDS; i++) {
      for (const s of i % 2 ? [...servers].reverse() : servers) {
        const r = await runOnce(s, SOURCE_MESSAGES);
        runs[s.name]!.push(r);
        console.log(
          `| ${i + 1} | ${s.name} | ${f(r.load1, 1)} | ${f(r.accepted)} | ${f(r.stored)} | ${f(r.cpuMsPerMessage, 2)} | ${Number.isNaN(r.statementsPerMessage) ? "-" : f(r.statementsPerMessage, 2)} | ${r.failed} |`,
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
      postfixMedian = summary(theirs.map((r) => r.stored)).median;
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
      await runOnce(s3, WARM_UP);
      const r = await runOnce(s3, SOURCE_MESSAGES);
      console.log(
        `aerogram with s3rver blobs (one run after the rounds): ${f(r.stored)} msg/s committed${postfixMedian ? ` (${f(r.stored / postfixMedian, 2)}x Postfix's median)` : ""}, ${r.failed} failed, CPU ${f(r.cpuMsPerMessage, 2)} ms/msg (s3rver's own CPU not counted), ${f(r.statementsPerMessage, 2)} PG statements/msg, load ${f(r.load1, 1)}`,
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
