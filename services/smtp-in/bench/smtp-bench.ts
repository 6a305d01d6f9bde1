/**
 * `npm run bench` (services/smtp-in): sustained deliveries/s and MB/s of
 * SMTP-in into real Postgres + s3rver with 20 concurrent senders, and the
 * p50/p99 from the end of DATA to the 250 — then the same load against a
 * private Postfix (Debian's package) delivering to a local maildir, as a ratio.
 *
 * The server runs in its own process (this file with --serve), so the load
 * generator doesn't share its event loop. Environment: BENCH_SECONDS (15),
 * BENCH_SENDERS (20), BENCH_MESSAGE_BYTES (8192), TEST_DATABASE_URL,
 * TEST_NATS_URL, TEST_REDIS_URL (NATS and Redis are used when reachable).
 * BENCH_SMOKE=1 (the smoke test in npm test): 2 senders for 1 s, no Postfix.
 */
import { spawn } from "node:child_process";
import { loadConfig } from "@aerogram/config";
import { createRuntime } from "@aerogram/runtime";
import {
  backendEnv,
  benchKnob,
  benchSmoke,
  createTestDatabase,
  freePort,
  postfixAvailable,
  serversReachable,
  startPrivatePostfix,
  startS3,
} from "@aerogram/testkit";
import { optionsFromRuntime, SmtpInService } from "../src/index.ts";
import { type LoadResult, percentile, runLoad } from "./smtp-load.ts";

const SECONDS = benchKnob("BENCH_SECONDS", 15, 1);
const SENDERS = benchKnob("BENCH_SENDERS", 20, 2);
const MESSAGE_BYTES = benchKnob("BENCH_MESSAGE_BYTES", 8192, 8192);
const WARMUP_SECONDS = benchSmoke() ? 0.5 : 2;
const DOMAIN = "bench.test";

/** --serve: the SMTP-in service alone, configured from the environment. */
async function serve(): Promise<void> {
  const runtime = await createRuntime(loadConfig(), { service: "smtp-bench" });
  const recipients = Number(process.env.BENCH_ACCOUNTS ?? SENDERS);
  for (let i = 0; i < recipients; i++) {
    await runtime.store.accounts.create({ address: `bench${i}@${DOMAIN}`, password: "bench" });
  }
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
  console.log(`PORT ${service.ports()[0]}`);
  process.on("SIGTERM", async () => {
    await handle.drain(2000);
    await runtime.close();
    process.exit(0);
  });
}

function describe(name: string, r: LoadResult): string {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const secs = r.elapsedMs / 1000;
  return (
    `${name}: ${r.messages} messages in ${secs.toFixed(1)} s = ${(r.messages / secs).toFixed(1)} msg/s, ` +
    `${(r.bytes / secs / 1e6).toFixed(2)} MB/s; DATA-end → 250 p50 ${percentile(sorted, 50).toFixed(1)} ms, ` +
    `p99 ${percentile(sorted, 99).toFixed(1)} ms; failures ${r.failures}`
  );
}

async function load(port: number): Promise<LoadResult> {
  const recipients = (n: number) => [`bench${n}@${DOMAIN}`];
  await runLoad({
    port,
    senders: SENDERS,
    durationMs: WARMUP_SECONDS * 1000,
    messageBytes: MESSAGE_BYTES,
    recipients,
  });
  return runLoad({
    port,
    senders: SENDERS,
    durationMs: SECONDS * 1000,
    messageBytes: MESSAGE_BYTES,
    recipients,
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
  const proc = spawn(process.execPath, ["--import", "tsx", import.meta.filename, mode], {
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
    async stop() {
      proc.kill("SIGTERM");
      if (proc.exitCode === null) await new Promise((r) => proc.once("exit", r));
    },
  };
}

async function benchAerogram(): Promise<LoadResult> {
  const db = await createTestDatabase();
  const s3server = await child("--s3", process.env, /S3 (\{.*\})\n/);
  const s3 = {
    ...JSON.parse(s3server.match[1]!),
    region: "us-east-1",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  };
  const [nats, redis] = await Promise.all([serversReachable(["nats"]), serversReachable(["redis"])]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...backendEnv({
      databaseUrl: db.url,
      s3,
      nats,
      redis,
      settings: {
        DATABASE_POOL_MAX: String(SENDERS),
        SMTP_PORT: "0",
        LOG_LEVEL: "warn",
        MAIL_HOSTNAME: "bench.aerogram.test",
      },
    }),
  };
  console.log(
    `aerogram: Postgres ${db.name}, s3rver ${s3.endpoint}, events ${nats ? "NATS" : "in-process"}, limits ${redis ? "Redis" : "in-memory"}`,
  );
  const server = await child("--serve", env, /PORT (\d+)/);
  try {
    return await load(Number(server.match[1]));
  } finally {
    await server.stop();
    await s3server.stop();
    await db.drop();
  }
}

async function benchPostfix(): Promise<{ result: LoadResult; endToEndSeconds: number } | string> {
  const why = postfixAvailable();
  if (why) return why;
  const pf = startPrivatePostfix(await freePort(), DOMAIN);
  try {
    await new Promise((r) => setTimeout(r, 1500));
    const warm = await runLoad({
      port: pf.port,
      senders: SENDERS,
      durationMs: WARMUP_SECONDS * 1000,
      messageBytes: MESSAGE_BYTES,
      recipients: (n) => [`bench${n}@${DOMAIN}`],
    });
    const deadline = Date.now() + 120_000;
    while (pf.delivered() < warm.messages && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const base = pf.delivered();
    const started = Date.now();
    const result = await runLoad({
      port: pf.port,
      senders: SENDERS,
      durationMs: SECONDS * 1000,
      messageBytes: MESSAGE_BYTES,
      recipients: (n) => [`bench${n}@${DOMAIN}`],
    });
    while (pf.delivered() < base + result.messages && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return { result, endToEndSeconds: (Date.now() - started) / 1000 };
  } finally {
    pf.stop();
  }
}

async function main(): Promise<void> {
  console.log(
    `smtp-in bench: ${SENDERS} concurrent senders, ${MESSAGE_BYTES}-octet messages, 1 recipient each, ${SECONDS} s after ${WARMUP_SECONDS} s warm-up`,
  );
  const ours = await benchAerogram();
  console.log(describe("aerogram (250 after blob in s3rver + row in Postgres)", ours));
  if (benchSmoke()) {
    console.log("postfix: skipped (smoke mode)");
    return;
  }
  const pf = await benchPostfix();
  if (typeof pf === "string") {
    console.log(`postfix: not available (${pf})`);
    return;
  }
  console.log(describe("postfix (250 after its queue file is fsynced)", pf.result));
  const pfEndToEnd = pf.result.messages / pf.endToEndSeconds;
  console.log(
    `postfix: all ${pf.result.messages} in the maildir after ${pf.endToEndSeconds.toFixed(1)} s = ${pfEndToEnd.toFixed(1)} msg/s end to end`,
  );
  const oursRate = ours.messages / (ours.elapsedMs / 1000);
  const pfRate = pf.result.messages / (pf.result.elapsedMs / 1000);
  console.log(
    `ratio aerogram/postfix: ${(oursRate / pfRate).toFixed(2)} (acceptance), ${(oursRate / pfEndToEnd).toFixed(2)} (into the mailbox store vs into the maildir)`,
  );
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
