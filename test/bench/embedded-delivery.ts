/**
 * What the embedded database's session server costs: C concurrent SMTP
 * senders deliver N messages each to a fresh `npm start` (embedded PGlite),
 * timed from the first connection to the last answer. With `--compare <dir>`
 * every round runs both this checkout and the one in <dir> (e.g. a copy of the
 * previous commit with its own node_modules), alternating, so both see the
 * same machine load.
 *
 *   node --import tsx test/bench/embedded-delivery.ts [--senders 8] [--messages 25]
 *        [--rounds 3] [--compare /tmp/ag-before] [--smoke]
 *
 * Prints per checkout: msgs/s min/median/max, refused answers, CPU ms per
 * message of the server process (from /proc/<pid>/stat) and the load average.
 * --smoke: one round, 2 senders x 3 messages (seconds), same checks.
 * Ports: 43010-43014 (this engineer's bench range); change with --port-base.
 * --port-base 0: every port chosen by the kernel, SMTP's read from the startup
 * banner (what test/bench-smoke.test.ts uses, so it never collides).
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { sendMessages } from "../integration/mail-load.ts";

const { values } = parseArgs({
  options: {
    senders: { type: "string", default: "8" },
    messages: { type: "string", default: "25" },
    rounds: { type: "string", default: "3" },
    compare: { type: "string" },
    smoke: { type: "boolean", default: false },
    "port-base": { type: "string", default: "43010" },
  },
});
const smoke = values.smoke;
const senders = smoke ? 2 : Number(values.senders);
const perSender = smoke ? 3 : Number(values.messages);
const rounds = smoke ? 1 : Number(values.rounds);
const base = Number(values["port-base"]);
const here = resolve(import.meta.dirname, "../..");
const checkouts = [here, ...(values.compare ? [resolve(values.compare)] : [])];

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

interface Round {
  msgsPerSecond: number;
  refused: string[];
  cpuMsPerMessage: number;
}

async function runRound(root: string): Promise<Round> {
  const dataDir = await mkdtemp(join(tmpdir(), "aerogram-bench-"));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: "error",
    DATA_DIR: dataDir,
    SMTP_PORT: String(base),
    IMAP_PORT: String(base && base + 1),
    POP3_PORT: String(base && base + 2),
    HTTP_PORT: String(base && base + 3),
    EMBEDDED_PG_PORT: String(base && base + 4),
  };
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "services/aerogram/src/main.ts")], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  try {
    const started = Date.now();
    while (!/Demo account: /.test(out)) {
      if (child.exitCode !== null || Date.now() - started > 180_000) throw new Error(`no start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The startup banner lists every listener as "  smtp 127.0.0.1:<port>".
    const smtpPort = base || Number(/^ {2}smtp 127\.0\.0\.1:(\d+)/m.exec(out)?.[1]);
    if (!smtpPort) throw new Error(`no SMTP port in the startup banner:\n${out}`);
    const cpuBefore = await cpuTicks(child.pid!);
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: senders }, (_, s) =>
        sendMessages(smtpPort, "demo@example.com", `s${s}`, perSender),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (await cpuTicks(child.pid!)) - cpuBefore;
    const answers = results.flatMap((r) => r.answers);
    const accepted = answers.filter((a) => a.startsWith("250"));
    return {
      msgsPerSecond: accepted.length / seconds,
      refused: answers.filter((a) => !a.startsWith("250")),
      cpuMsPerMessage: ((cpu / TICKS_PER_SECOND) * 1000) / answers.length,
    };
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

const results = new Map<string, Round[]>(checkouts.map((c) => [c, []]));
for (let r = 0; r < rounds; r++) {
  // Alternate which checkout goes first so neither always runs on a warmer machine.
  const order = r % 2 === 0 ? checkouts : [...checkouts].reverse();
  for (const root of order) {
    const round = await runRound(root);
    results.get(root)!.push(round);
    console.log(
      `round ${r + 1} ${root}: ${round.msgsPerSecond.toFixed(1)} msgs/s, ${round.refused.length} not 250, ` +
        `${round.cpuMsPerMessage.toFixed(2)} CPU ms/msg, load ${loadavg()[0]!.toFixed(2)}`,
    );
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\n${senders} senders x ${perSender} messages, ${rounds} rounds`);
console.log("| checkout | msgs/s min / median / max | not-250 answers | CPU ms/msg (median) |");
console.log("| --- | --- | --- | --- |");
let failed = false;
for (const [root, rs] of results) {
  const rates = rs.map((x) => x.msgsPerSecond);
  const refused = rs.flatMap((x) => x.refused);
  console.log(
    `| ${root} | ${Math.min(...rates).toFixed(1)} / ${median(rates).toFixed(1)} / ${Math.max(...rates).toFixed(1)} | ` +
      `${refused.length}${refused.length ? ` (${[...new Set(refused)].slice(0, 3).join("; ")})` : ""} | ` +
      `${median(rs.map((x) => x.cpuMsPerMessage)).toFixed(2)} |`,
  );
  if (root === here && refused.length > 0) failed = true;
}
if (failed) {
  console.error("this checkout refused mail under concurrency");
  process.exit(1);
}
