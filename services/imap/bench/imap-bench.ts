/**
 * `npm run bench` (services/imap): imaptest stress against Aerogram and against a
 * private Dovecot on the same machine, in the same run (ratios only mean
 * something between runs under the same load).
 *
 *   imaptest users=100 clients=20 secs=30 mbox=<200 generated messages>
 *
 * Aerogram runs in this process on the test Postgres (TEST_DATABASE_URL) with
 * filesystem blobs and the in-process bus (like Dovecot's local maildir); Dovecot
 * runs from a config under a temp directory on a high loopback port with a
 * passwd-file of the same 100 users. Prints login/s, FETCH/s, APPEND/s, the
 * ratio Aerogram/Dovecot and imaptest's error count for each.
 *
 * Needs imaptest (IMAPTEST=/path, default /tmp/imaptest/src/imaptest, built
 * outside the repo) and /usr/sbin/dovecot; without them it prints
 * "imaptest/dovecot: not available" and exits 0. BENCH_SECS shortens the run.
 *
 * BENCH_SMOKE=1 (the smoke test in npm test): 5 users, 2 clients, 2 s, a
 * 20-message mbox, no Dovecot; without imaptest it checks LOGIN/SELECT/APPEND
 * on the bench's gateway with a raw client instead.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  benchKnob,
  benchSmoke,
  dovecotUnavailable,
  startPrivateDovecot,
  startTestBackend,
  TextClient,
  tempDir,
} from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";

const IMAPTEST = process.env.IMAPTEST ?? "/tmp/imaptest/src/imaptest";
const USERS = benchKnob("BENCH_USERS", 100, 5);
const CLIENTS = benchKnob("BENCH_CLIENTS", 20, 2);
const SECS = benchKnob("BENCH_SECS", 30, 2);
const MESSAGES = benchKnob("BENCH_MESSAGES", 200, 20);
const PASSWORD = "bench-pass";

interface StressResult {
  totals: Record<string, number>;
  errors: number;
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

function runImaptest(port: number, mbox: string, userTemplate: string): Promise<StressResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      IMAPTEST,
      [
        "host=127.0.0.1",
        `port=${port}`,
        `user=${userTemplate}`,
        `pass=${PASSWORD}`,
        `users=${USERS}`,
        `clients=${CLIENTS}`,
        `secs=${SECS}`,
        `mbox=${mbox}`,
        "no_pipelining",
      ],
      { env: { ...process.env, LD_LIBRARY_PATH: "/usr/lib/dovecot" } },
    );
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.on("error", reject);
    child.on("close", () => {
      const totalsAt = output.lastIndexOf("Totals:");
      const block = output.slice(totalsAt).split("\n");
      const names = (block[1] ?? "").trim().split(/\s+/);
      const counts = (block[4] ?? "").trim().split(/\s+/).map(Number);
      const totals: Record<string, number> = {};
      names.forEach((name, i) => {
        totals[name] = counts[i] ?? 0;
      });
      const errors = (output.match(/^Error: /gm) ?? []).length;
      resolve({ totals, errors, output });
    });
  });
}

async function startAerogram() {
  const backend = await startTestBackend({
    database: "postgres",
    blobs: "fs",
    settings: { DATABASE_POOL_MAX: "20", LOG_LEVEL: "error", IMAP_PORT: "0" },
  });
  const runtime = await backend.runtime("imap-bench");
  for (let i = 1; i <= USERS; i++) {
    await runtime.store.accounts.create({ address: `bench${i}@example.org`, password: PASSWORD });
  }
  const server = new ImapServer(runtime);
  const endpoints = await server.listen({ port: 0, host: "127.0.0.1" });
  const port = Number(/:(\d+)/.exec(endpoints[0]!)![1]);
  return {
    port,
    async stop() {
      server.close();
      await runtime.close();
      await backend.stop();
    },
  };
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

function rates(result: StressResult) {
  return {
    login: (result.totals.Logi ?? 0) / SECS,
    fetch: ((result.totals.Fetc ?? 0) + (result.totals.Fet2 ?? 0)) / SECS,
    append: (result.totals.Appe ?? 0) / SECS,
  };
}

async function main(): Promise<void> {
  const smoke = benchSmoke();
  const noReference = dovecotUnavailable(["imap"]);
  if (!existsSync(IMAPTEST) || (noReference && !smoke)) {
    if (!smoke) {
      console.log(`imaptest/dovecot: not available (${noReference ?? `no ${IMAPTEST}`})`);
      return;
    }
    const aerogram = await startAerogram();
    try {
      await smokeCheck(aerogram.port);
    } finally {
      await aerogram.stop();
    }
    return;
  }
  const dir = await tempDir("aerogram-imap-bench-");
  await chmod(dir.path, 0o755); // imaptest reads it; so may Dovecot's unprivileged processes
  const mbox = join(dir.path, "bench.mbox");
  await writeFile(mbox, generateMbox(MESSAGES));
  const aerogram = await startAerogram();
  let ours: StressResult;
  try {
    ours = await runImaptest(aerogram.port, mbox, "bench%d@example.org");
  } finally {
    await aerogram.stop();
  }
  let theirs: StressResult | null = null;
  if (smoke) console.log("dovecot: skipped (smoke mode)");
  else {
    try {
      const dovecot = await startPrivateDovecot({
        protocols: ["imap"],
        users: Array.from({ length: USERS }, (_, i) => `bench${i + 1}`),
        password: PASSWORD,
        services: { imap: ["process_limit = 1024"] },
      });
      try {
        theirs = await runImaptest(dovecot.ports.imap!, mbox, "bench%d");
      } finally {
        await dovecot.stop();
      }
    } catch (err) {
      console.log(`dovecot: not available (${(err as Error).message})`);
    }
  }
  const a = rates(ours);
  console.log(`imaptest stress: users=${USERS} clients=${CLIENTS} secs=${SECS}, ${MESSAGES}-message mbox`);
  const row = (name: string, r: ReturnType<typeof rates>, errors: number) =>
    console.log(
      `${name.padEnd(9)} login/s ${r.login.toFixed(1).padStart(8)}  FETCH/s ${r.fetch.toFixed(1).padStart(8)}  APPEND/s ${r.append.toFixed(1).padStart(8)}  errors ${errors}`,
    );
  row("aerogram", a, ours.errors);
  if (theirs) {
    const d = rates(theirs);
    row("dovecot", d, theirs.errors);
    const ratio = (x: number, y: number) => (y > 0 ? (x / y).toFixed(2) : "n/a");
    console.log(
      `ratio     login ${ratio(a.login, d.login)}x  FETCH ${ratio(a.fetch, d.fetch)}x  APPEND ${ratio(a.append, d.append)}x (aerogram/dovecot)`,
    );
  }
  if (ours.errors > 0)
    console.log(
      ours.output
        .split("\n")
        .filter((l) => l.startsWith("Error"))
        .slice(0, 10)
        .join("\n"),
    );
  if (process.env.BENCH_VERBOSE) {
    console.log(ours.output.slice(-3000));
    if (theirs) console.log(theirs.output.slice(-3000));
  }
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
