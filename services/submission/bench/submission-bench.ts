/**
 * Submission and outbound throughput against Postfix, same run, alternating:
 * C concurrent clients submit M messages (one remote recipient each) to
 * Aerogram (submission + outbound workers in one child process: AUTH PLAIN
 * over loopback, real PostgreSQL, filesystem blobs with fsync) and to a
 * private Postfix relaying to the same local sink. Per round: accepted msgs/s
 * (last 250 of the submissions) and end-to-end delivered msgs/s (the sink has
 * them all), CPU per message of each server from /proc, load average, and
 * the CPU of our database's PostgreSQL backends (Postfix's own queue-file
 * writes and fsyncs count in its CPU; our commits run in those backends).
 *
 *   npm run bench -w @aerogram/submission            # 3 rounds, M=2000, C=10
 *   npm run bench -w @aerogram/submission -- --smoke # seconds: 1 round, M=30, C=3
 *   BENCH_ROUNDS, BENCH_MESSAGES, BENCH_CLIENTS override.
 */

import { spawn } from "node:child_process";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { Store } from "@aerogram/store";
import {
  cleanEnv,
  cpuSeconds,
  createTestDatabase,
  type PrivatePostfix,
  postfixAvailable,
  processTree,
  REPO_ROOT,
  type RunningProcess,
  type SmtpSink,
  startPrivatePostfix,
  startSmtpSink,
  startTsProcess,
  tempDir,
  uniqueId,
} from "@aerogram/testkit";

const SMOKE = process.argv.includes("--smoke");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (SMOKE ? 1 : 3));
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? (SMOKE ? 30 : 2000));
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? (SMOKE ? 3 : 10));
/** Full runs use fixed ports of this engineer's range; the smoke run (in npm test) takes free ones. */
const PORTS = { aerogram: 44_801, postfix: 44_802 };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
const PASSWORD = "bench-password-1";
const BODY = `${"The quick brown fox jumps over the lazy dog. ".repeat(40)}\r\n`;

class Client {
  private buf = "";
  private wake: (() => void) | undefined;
  constructor(private readonly s: Socket) {
    s.setNoDelay(true);
    s.on("data", (d: Buffer) => {
      this.buf += d.toString("latin1");
      this.wake?.();
    });
    s.on("error", () => {});
  }
  static async open(port: number): Promise<Client> {
    const s = connect({ host: "127.0.0.1", port });
    await new Promise<void>((res, rej) => {
      s.once("connect", res);
      s.once("error", rej);
    });
    return new Client(s);
  }
  async reply(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      if (this.s.destroyed) throw new Error("closed");
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }
  async cmd(line: string, expect: RegExp): Promise<void> {
    this.s.write(`${line}\r\n`);
    const r = await this.reply();
    if (!expect.test(r)) throw new Error(`${line.split(" ")[0]}: ${r.trim()}`);
  }
  close() {
    this.s.end("QUIT\r\n");
  }
}

/** C clients share M messages; resolves with the time the last 250 arrived (ms from start). */
async function submit(port: number, auth: boolean, tag: string, started: number): Promise<number> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const c = await Client.open(port);
      await c.reply();
      await c.cmd("EHLO bench.client", /^250/);
      if (auth)
        await c.cmd(
          `AUTH PLAIN ${Buffer.from(`\0bench@bench.test\0${PASSWORD}`).toString("base64")}`,
          /^235/,
        );
      while (next < MESSAGES) {
        const i = next++;
        await c.cmd("MAIL FROM:<bench@bench.test>", /^250/);
        await c.cmd(`RCPT TO:<r${i % 50}@remote.test>`, /^250/);
        await c.cmd("DATA", /^354/);
        await c.cmd(
          `From: bench@bench.test\r\nTo: r${i % 50}@remote.test\r\nSubject: bench ${i}\r\nMessage-ID: <${tag}.${i}@bench.test>\r\nDate: ${new Date().toUTCString()}\r\n\r\n${BODY}.`,
          /^250/,
        );
      }
      c.close();
    }),
  );
  return performance.now() - started;
}

interface Round {
  accepted: number;
  delivered: number;
  cpuPerMessageMs: number;
  /** Our database's PostgreSQL backends (ours only; 0 for Postfix). */
  pgCpuPerMessageMs: number;
}

/** CPU seconds of each PostgreSQL backend serving `database`, except the asking one. */
async function backendCpu(store: Store | undefined, database: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!store) return out;
  const { rows } = await store.pool.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [database],
  );
  for (const r of rows) out.set(r.pid, cpuSeconds(r.pid));
  return out;
}

async function waitForSink(sink: SmtpSink, tag: string, started: number): Promise<number> {
  const count = () => sink.messages.filter((m) => m.data.includes(`<${tag}.`)).length;
  const deadline = Date.now() + 600_000;
  while (count() < MESSAGES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (count() < MESSAGES) throw new Error(`${tag}: only ${count()} of ${MESSAGES} arrived`);
  return performance.now() - started;
}

async function round(
  name: string,
  port: number,
  auth: boolean,
  sink: SmtpSink,
  cpu: () => number,
  pg?: () => Promise<Map<number, number>>,
): Promise<Round> {
  const tag = `${name}${uniqueId()}`;
  const pgBefore = (await pg?.()) ?? new Map<number, number>();
  const cpuBefore = cpu();
  const started = performance.now();
  const acceptedMs = await submit(port, auth, tag, started);
  const deliveredMs = await waitForSink(sink, tag, started);
  const cpuSeconds = cpu() - cpuBefore;
  // Backends that ended during the round are missed (the pool keeps them while busy).
  let pgSeconds = 0;
  for (const [pid, after] of (await pg?.()) ?? []) pgSeconds += after - (pgBefore.get(pid) ?? 0);
  return {
    pgCpuPerMessageMs: (pgSeconds * 1000) / MESSAGES,
    accepted: MESSAGES / (acceptedMs / 1000),
    delivered: MESSAGES / (deliveredMs / 1000),
    cpuPerMessageMs: (cpuSeconds * 1000) / MESSAGES,
  };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
};
const fmt = (x: { min: number; median: number; max: number }, d = 1) =>
  `${x.min.toFixed(d)} / ${x.median.toFixed(d)} / ${x.max.toFixed(d)}`;

/**
 * main.ts in a child process; with BENCH_PROFILE_DIR it runs under
 * `node --cpu-prof` (not allowed in NODE_OPTIONS) and writes a V8 CPU profile
 * there when it exits.
 */
function startServer(env: NodeJS.ProcessEnv): RunningProcess {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return startTsProcess("services/aerogram/src/main.ts", [], env);
  const child = spawn(
    process.execPath,
    ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--import", "tsx", "services/aerogram/src/main.ts"],
    { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => "",
    async waitFor(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${re} in ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(signal = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
  };
}

async function main() {
  if (SMOKE) {
    PORTS.aerogram = await freePort();
    PORTS.postfix = await freePort();
  }
  const sink = await startSmtpSink();
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-submission-bench-");
  const store = await Store.open({ url: db.url, poolMax: 2 });
  await store.accounts.create({ address: "bench@bench.test", password: PASSWORD });
  const database = new URL(db.url).pathname.slice(1);
  const aerogram = startServer(
    cleanEnv({
      AEROGRAM_SERVICES: "submission,outbound",
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: "6",
      BLOB_DIR: `${dir.path}/blobs`,
      HTTP_PORT: "0",
      SUBMISSION_PORT: String(PORTS.aerogram),
      MAIL_HOSTNAME: "bench.aerogram.test",
      OUTBOUND_ROUTES: `*=127.0.0.1:${sink.port}`,
      OUTBOUND_CONCURRENCY: "20",
      OUTBOUND_DOMAIN_CONCURRENCY: "20",
      SEND_LIMIT_MESSAGES_PER_HOUR: "100000000",
      SEND_LIMIT_RECIPIENTS_PER_DAY: "100000000",
      DEMO_ACCOUNT: "false",
      LOG_LEVEL: "warn",
    }),
  );
  let postfix: PrivatePostfix | undefined;
  try {
    await aerogram.waitFor(/submission 127\.0\.0\.1:\d+/, 120_000);
    const pid = aerogram.child.pid!;
    const why = postfixAvailable();
    if (why) console.log(`postfix: ${why}; Aerogram only`);
    else postfix = startPrivatePostfix(PORTS.postfix, { relayToPort: sink.port });
    if (postfix) await new Promise((r) => setTimeout(r, 1500));
    console.log(
      `submission bench: ${ROUNDS} round(s), ${MESSAGES} messages, ${CLIENTS} clients, ${Buffer.byteLength(BODY)}-byte bodies, one remote recipient each${SMOKE ? " (smoke)" : ""}`,
    );
    const ours: Round[] = [];
    const theirs: Round[] = [];
    const loads: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const runOurs = () =>
        round(
          "ag",
          PORTS.aerogram,
          true,
          sink,
          () => processTree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0),
          () => backendCpu(store, database),
        );
      const runTheirs = async () =>
        postfix ? round("pf", PORTS.postfix, false, sink, () => postfix!.cpuSeconds()) : undefined;
      // Alternate who goes first, so neither always meets a warmer machine.
      if (r % 2 === 0) {
        ours.push(await runOurs());
        const t = await runTheirs();
        if (t) theirs.push(t);
      } else {
        const t = await runTheirs();
        if (t) theirs.push(t);
        ours.push(await runOurs());
      }
      loads.push(loadavg()[0]!);
      const o = ours.at(-1)!;
      const t = theirs.at(-1);
      console.log(
        `round ${r + 1}: aerogram accepted ${o.accepted.toFixed(1)}/s delivered ${o.delivered.toFixed(1)}/s cpu ${o.cpuPerMessageMs.toFixed(2)} ms/msg (+ PG backends ${o.pgCpuPerMessageMs.toFixed(2)})` +
          (t
            ? `; postfix accepted ${t.accepted.toFixed(1)}/s delivered ${t.delivered.toFixed(1)}/s cpu ${t.cpuPerMessageMs.toFixed(2)} ms/msg`
            : "") +
          `; load ${loads.at(-1)!.toFixed(2)}`,
      );
    }
    console.log(
      "\n|                          | Aerogram (min / median / max) | Postfix (min / median / max) | ratio (medians) |",
    );
    console.log(
      "| ------------------------ | ----------------------------- | ---------------------------- | --------------- |",
    );
    for (const [label, key, d] of [
      ["accepted msgs/s", "accepted", 1],
      ["end-to-end delivered/s", "delivered", 1],
      ["CPU ms per message", "cpuPerMessageMs", 2],
      ["+ PG backends ms/msg", "pgCpuPerMessageMs", 2],
    ] as const) {
      const o = stats(ours.map((x) => x[key]));
      // Postfix has no database: its queue writes are in its own CPU row.
      const t = theirs.length && key !== "pgCpuPerMessageMs" ? stats(theirs.map((x) => x[key])) : undefined;
      console.log(
        `| ${label.padEnd(24)} | ${fmt(o, d).padEnd(29)} | ${(t ? fmt(t, d) : "n/a").padEnd(28)} | ${(t ? `${(o.median / t.median).toFixed(2)}x` : "n/a").padEnd(15)} |`,
      );
    }
    console.log(`load average (1 min) after each round: ${loads.map((l) => l.toFixed(2)).join(", ")}`);
    // Where Aerogram's time goes: its own histograms, over all rounds.
    const http = /HTTP {3}http:\/\/([\d.]+:\d+)\//.exec(aerogram.stdout());
    if (http) {
      const text = await (await fetch(`http://${http[1]}/metrics`)).text();
      const sum = (re: RegExp) => [...text.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
      const total = MESSAGES * ROUNDS;
      const pgCount = sum(/^aerogram_pg_query_duration_seconds_count\{[^}]*\} ([\d.e+-]+)$/gm);
      const pgSum = sum(/^aerogram_pg_query_duration_seconds_sum\{[^}]*\} ([\d.e+-]+)$/gm);
      const blobSum = sum(/^aerogram_blob_operation_duration_seconds_sum\{[^}]*\} ([\d.e+-]+)$/gm);
      console.log(
        `aerogram per message: ${(pgCount / total).toFixed(1)} Postgres queries (${((pgSum * 1000) / total).toFixed(1)} ms), blob store ${((blobSum * 1000) / total).toFixed(1)} ms`,
      );
    }
    const total = stats(ours.map((x) => x.cpuPerMessageMs + x.pgCpuPerMessageMs));
    const pf = theirs.length ? stats(theirs.map((x) => x.cpuPerMessageMs)) : undefined;
    console.log(
      `CPU ms per message with our PostgreSQL backends: ${fmt(total, 2)}${pf ? ` (${(total.median / pf.median).toFixed(2)}x Postfix's median)` : ""}`,
    );
  } finally {
    await store.close();
    postfix?.stop();
    await aerogram.stop("SIGTERM");
    await sink.close();
    await db.drop();
    await dir.remove();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
