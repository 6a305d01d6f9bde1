/**
 * Fan-out latency of live updates: two IMAP gateway processes and one SMTP-in process
 * (the real entry point, AEROGRAM_SERVICES=imap / smtp-in) on a real Postgres,
 * s3rver, Redis and a private nats-server this bench starts on a random port
 * (/usr/sbin/nats-server; the machine's shared NATS is never touched).
 *
 * N idle IMAP sessions (raw sockets in several client processes, each under the
 * 20,000-open-files limit, each on its own 127.0.0.x source address) are spread
 * over A accounts and over both gateways. Mail is delivered through SMTP at a
 * steady rate to random accounts; the latency of one delivery at one idler is
 * from the SMTP 250 (end of DATA) to the untagged EXISTS at that idler.
 *
 *   phase 1  steady: NATS up
 *   phase 2  NATS killed (SIGKILL) mid-run and restarted on the same port: the
 *            gateways fall back to polling Postgres every IMAP_IDLE_POLL_MS
 *            (500 ms) while it is down;
 *            every idler must still see every delivery to its account.
 *
 * Then, when /usr/sbin/dovecot exists, Dovecot's memory per idle IMAP
 * connection as the reference (a private instance under a temp directory on a
 * high loopback port; one imap process per connection, no hibernation).
 *
 *   node --import tsx bench/fanout-bench.ts [idlers=10000] [accounts=idlers/10]
 *   FANOUT_RATE (deliveries/s, 20), FANOUT_SECS (phase 1 length, 30),
 *   FANOUT_OUTAGE_SECS (10), FANOUT_DOVECOT_CONNS (200), FANOUT_HIBERNATE_MS (2000; 0 = the
 *   gateways never hibernate, so the idlers stay live sessions)
 *   BENCH_SMOKE=1 (the smoke test in npm test): 20 idlers over 4 accounts, 5/s,
 *   2 s phases, no Dovecot
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import {
  benchKnob,
  benchSmoke,
  cleanEnv,
  cpuDuring,
  dovecotUnavailable,
  freePort,
  processTree,
  type RunningProcess,
  startPrivateDovecot,
  startTestBackend,
  startTsProcess,
  uniqueId,
} from "@aerogram/testkit";
import type { FromClients, IdlerSpec, ToClients } from "./fanout-clients.ts";

const IDLERS = Number(process.argv[2] ?? (benchSmoke() ? 20 : 10_000));
const ACCOUNTS = Number(process.argv[3] ?? Math.max(1, Math.round(IDLERS / (benchSmoke() ? 5 : 10))));
const RATE = benchKnob("FANOUT_RATE", 20, 5);
const PHASE1_SECS = benchKnob("FANOUT_SECS", 30, 2);
const OUTAGE_SECS = benchKnob("FANOUT_OUTAGE_SECS", 10, 2);
const DOVECOT_CONNS = benchKnob("FANOUT_DOVECOT_CONNS", 200, 0);
/** IMAP_HIBERNATE_AFTER_MS of the gateways; phase 1 starts once every idler is past it (hibernated). */
const HIBERNATE_MS = benchKnob("FANOUT_HIBERNATE_MS", 2000, 500);
const SESSIONS_PER_CLIENT_PROCESS = 3000;
const SMTP_CONNECTIONS = 16;
const TARGET_P99_MS = 25;
const TARGET_OUTAGE_P99_MS = 1000;
const NATS_SERVER = "/usr/sbin/nats-server";
const MAIN = "services/aerogram/src/main.ts";
const PASSWORD = "fanout-pass";

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await sleep(50);
  }
}

function startNats(port: number): ChildProcess {
  return spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

// ---------------------------------------------------------------- SMTP client

/** One SMTP connection from its own source address; deliver() resolves at the 250 after DATA. */
class SmtpClient {
  #buffer = "";
  #waiter: ((line: string) => void) | null = null;
  busy = false;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding("latin1");
    socket.setNoDelay(true);
    socket.on("data", (data: string) => {
      this.#buffer += data;
      this.#pump();
    });
  }

  #pump(): void {
    // A reply ends with a line "ddd " (multi-line replies use "ddd-").
    for (;;) {
      const end = this.#buffer.indexOf("\r\n");
      if (end < 0 || !this.#waiter) return;
      const line = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      if (/^\d{3}-/.test(line)) continue;
      const w = this.#waiter;
      this.#waiter = null;
      w(line);
    }
  }

  #reply(): Promise<string> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#pump();
    });
  }

  async #expect(command: string | null, code: string): Promise<string> {
    const reply = this.#reply();
    if (command !== null) this.socket.write(command);
    const line = await reply;
    if (!line.startsWith(code)) throw new Error(`SMTP ${command?.trim() ?? "greeting"}: ${line}`);
    return line;
  }

  static async open(port: number, localAddress: string): Promise<SmtpClient> {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    await once(socket, "connect");
    const client = new SmtpClient(socket);
    await client.#expect(null, "220");
    await client.#expect("EHLO bench.localhost\r\n", "250");
    return client;
  }

  async deliver(to: string, subject: string): Promise<number> {
    await this.#expect("MAIL FROM:<>\r\n", "250");
    await this.#expect(`RCPT TO:<${to}>\r\n`, "250");
    await this.#expect("DATA\r\n", "354");
    const body =
      `From: Bench <bench@sender.localhost>\r\nTo: <${to}>\r\nSubject: ${subject}\r\n` +
      `Message-ID: <${subject}@sender.localhost>\r\nDate: ${new Date().toUTCString()}\r\n\r\nfan-out ${subject}\r\n.\r\n`;
    const reply = this.#reply();
    this.socket.write(body);
    const line = await reply;
    const at = now();
    if (!line.startsWith("250")) throw new Error(`SMTP DATA: ${line}`);
    return at;
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------- statistics

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return "no samples";
  return `p50 ${percentile(s, 50).toFixed(1)} ms  p99 ${percentile(s, 99).toFixed(1)} ms  max ${s[s.length - 1]!.toFixed(1)} ms  (${s.length} idler-deliveries)`;
}

// ---------------------------------------------------------------- the run

interface Delivery {
  account: number;
  /** This delivery's EXISTS number in the account's INBOX (1-based). */
  n: number;
  at: number;
  phase: "steady" | "outage" | "after-outage";
}

async function main(): Promise<void> {
  if (!existsSync(NATS_SERVER)) {
    console.log(`fan-out: ${NATS_SERVER} not available`);
    return;
  }
  console.log(
    `fan-out bench: ${IDLERS} idlers over ${ACCOUNTS} accounts, 2 gateway processes, ${RATE} deliveries/s`,
  );
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    const natsPort = await freePort();
    let nats = startNats(natsPort);
    cleanups.push(() => killHard(nats));
    await waitPort(natsPort);
    const backend = await startTestBackend({
      database: "postgres",
      blobs: "s3",
      nats: `nats://127.0.0.1:${natsPort}`,
      redis: true,
      settings: { NATS_SUBJECT_PREFIX: `fanout${uniqueId()}`, LOG_LEVEL: "error", BIND_ADDRESS: "127.0.0.1" },
    });
    cleanups.push(() => backend.stop());
    const env = backend.env;

    // Accounts (scrypt hashing: the setup's slowest part; 8 at a time).
    const setupStarted = Date.now();
    const runtime = await backend.runtime("fanout-bench");
    cleanups.push(() => runtime.close());
    const addresses = Array.from({ length: ACCOUNTS }, (_, i) => `fan${i}@fanout.localhost`);
    let nextAccount = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (nextAccount < ACCOUNTS) {
          const address = addresses[nextAccount++]!;
          await runtime.store.accounts.create({ address, password: PASSWORD });
        }
      }),
    );
    console.log(`setup: ${ACCOUNTS} accounts in ${((Date.now() - setupStarted) / 1000).toFixed(1)} s`);

    // Two IMAP gateway processes and one SMTP-in process.
    const processes: RunningProcess[] = [];
    cleanups.push(async () => {
      await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    });
    const gateway = (services: string, extra: Record<string, string>) => {
      const p = startTsProcess(
        MAIN,
        [],
        cleanEnv({ ...env, AEROGRAM_SERVICES: services, HTTP_PORT: "0", ...extra }),
      );
      processes.push(p);
      return p;
    };
    const hibernate = { IMAP_PORT: "0", IMAP_HIBERNATE_AFTER_MS: String(HIBERNATE_MS) };
    const imapA = gateway("imap", hibernate);
    const imapB = gateway("imap", hibernate);
    const smtp = gateway("smtp-in", { SMTP_PORT: "0" });
    const imapPorts = await Promise.all(
      [imapA, imapB].map(async (p) => Number((await p.waitFor(/IMAP\s+127\.0\.0\.1:(\d+)/, 120_000))[1])),
    );
    const smtpPort = Number((await smtp.waitFor(/smtp 127\.0\.0\.1:(\d+)/, 120_000))[1]);

    // Idlers: idler j of account a goes to gateway (a + j) % 2, so every account
    // with two or more idlers has sessions on both processes.
    const perAccount = Array.from({ length: ACCOUNTS }, () => [] as number[]);
    const specs: IdlerSpec[] = [];
    for (let id = 0; id < IDLERS; id++) {
      const account = id % ACCOUNTS;
      const j = perAccount[account]!.length;
      perAccount[account]!.push(id);
      specs.push({ id, user: addresses[account]!, pass: PASSWORD, port: imapPorts[(account + j) % 2]! });
    }
    const accountOf = (id: number) => id % ACCOUNTS;
    const clientCount = Math.max(1, Math.ceil(IDLERS / SESSIONS_PER_CLIENT_PROCESS));
    /** Per idler: the highest EXISTS seen and when each count was first reached. */
    const seenMax = new Int32Array(IDLERS);
    const seenAt = new Map<number, number>(); // key id * 1e6 + n → time
    let closedIdlers = 0;
    const clients: ChildProcess[] = [];
    cleanups.push(async () => {
      for (const c of clients) if (c.connected) c.disconnect();
    });
    const openStarted = Date.now();
    const readies = [];
    for (let k = 0; k < clientCount; k++) {
      const child = fork(new URL("./fanout-clients.ts", import.meta.url).pathname, [], {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      clients.push(child);
      const ready = new Promise<FromClients & { type: "ready" }>((resolve) => {
        child.on("message", (m: FromClients) => {
          if (m.type === "ready") resolve(m);
          else if (m.type === "closed") closedIdlers++;
          else if (m.type === "exists") {
            for (let i = 0; i < m.data.length; i += 3) {
              const id = m.data[i]!;
              const n = m.data[i + 1]!;
              const at = m.data[i + 2]!;
              for (let c = seenMax[id]! + 1; c <= n; c++) seenAt.set(id * 1e6 + c, at);
              if (n > seenMax[id]!) seenMax[id] = n;
            }
          }
        });
      });
      readies.push(ready);
      child.send({
        type: "open",
        idlers: specs.filter((s) => s.id % clientCount === k),
        localAddress: `127.0.0.${10 + k}`,
        concurrency: 25,
      } satisfies ToClients);
    }
    const opened = await Promise.all(readies);
    const idling = opened.reduce((a, r) => a + r.opened, 0);
    const failed = opened.reduce((a, r) => a + r.failed, 0);
    console.log(
      `setup: ${idling} sessions idling (${failed} failed${failed ? `: ${opened.find((r) => r.firstError)?.firstError}` : ""}) ` +
        `in ${((Date.now() - openStarted) / 1000).toFixed(1)} s, ${clientCount} client processes`,
    );
    if (idling === 0) throw new Error("no idle sessions");
    // An idler whose login failed (a backend timeout under load) sees nothing:
    // it is left out of what must be seen, so "missed" counts only lost updates.
    const failedIds = new Set(opened.flatMap((r) => r.failedIds));
    for (const ids of perAccount) {
      for (let i = ids.length - 1; i >= 0; i--) if (failedIds.has(ids[i]!)) ids.splice(i, 1);
    }
    // Every idler past IMAP_HIBERNATE_AFTER_MS: the wake-ups measured are those of hibernated sessions.
    if (HIBERNATE_MS > 0) await sleep(HIBERNATE_MS + 2000);

    // SMTP connections, each from its own source address (SMTP-in limits messages per IP).
    const smtpClients = await Promise.all(
      Array.from({ length: SMTP_CONNECTIONS }, (_, i) => SmtpClient.open(smtpPort, `127.0.1.${i + 1}`)),
    );
    cleanups.push(async () => {
      for (const c of smtpClients) c.close();
    });

    const deliveries: Delivery[] = [];
    const deliveredTo = new Int32Array(ACCOUNTS);
    const inFlight = new Uint8Array(ACCOUNTS);
    let natsDown = false;
    let natsRestarted = false;
    let skipped = 0;
    let errors = 0;
    let seq = 0;
    const pending: Promise<void>[] = [];

    const deliverOne = () => {
      const client = smtpClients.find((c) => !c.busy);
      if (!client) {
        skipped++;
        return;
      }
      // A random account with no delivery in flight, so EXISTS n is its n-th delivery.
      let account = Math.floor(Math.random() * ACCOUNTS);
      for (let tries = 0; inFlight[account] && tries < ACCOUNTS; tries++) account = (account + 1) % ACCOUNTS;
      if (inFlight[account]) {
        skipped++;
        return;
      }
      inFlight[account] = 1;
      client.busy = true;
      const phase: Delivery["phase"] = natsDown ? "outage" : natsRestarted ? "after-outage" : "steady";
      const p = client
        .deliver(addresses[account]!, `fan${++seq}`)
        .then((at) => {
          deliveries.push({ account, n: ++deliveredTo[account]!, at, phase });
        })
        .catch((err) => {
          errors++;
          if (errors <= 3) console.log(`delivery failed: ${(err as Error).message}`);
        })
        .finally(() => {
          inFlight[account] = 0;
          client.busy = false;
        });
      pending.push(p);
    };

    const runFor = async (secs: number, during?: (elapsed: number) => Promise<void>) => {
      const started = performance.now();
      const interval = 1000 / RATE;
      let sent = 0;
      const hooks = during ? during(0) : Promise.resolve();
      while (performance.now() - started < secs * 1000) {
        const due = started + sent * interval;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        deliverOne();
        sent++;
      }
      await hooks;
      await Promise.all(pending.splice(0));
    };

    /** Waits until every idler has seen every delivery to its account (or the timeout). */
    const waitAllSeen = async (timeoutMs: number): Promise<number> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        let missing = 0;
        for (let id = 0; id < IDLERS; id++)
          if (!failedIds.has(id) && seenMax[id]! < deliveredTo[accountOf(id)]!) missing++;
        if (missing === 0 || Date.now() > deadline) return missing;
        await sleep(100);
      }
    };

    const latencies = (phase: Delivery["phase"]): { values: number[]; early: number } => {
      const values: number[] = [];
      let early = 0;
      for (const d of deliveries) {
        if (d.phase !== phase) continue;
        for (const id of perAccount[d.account]!) {
          const at = seenAt.get(id * 1e6 + d.n);
          if (at === undefined) continue;
          // The push can overtake the 250 on the loopback; count it as 0 ms.
          if (at < d.at) early++;
          values.push(Math.max(0, at - d.at));
        }
      }
      return { values, early };
    };

    // Phase 1: steady, NATS up.
    const load = () =>
      loadavg()
        .map((l) => l.toFixed(1))
        .join(" ");
    console.log(`phase 1: ${PHASE1_SECS} s at ${RATE}/s, NATS up (load average ${load()})`);
    const phase1Started = performance.now();
    // CPU of both gateways' process trees (primary and workers) during phase 1.
    const gatewayPids = () => [imapA, imapB].flatMap((p) => (p.child.pid ? processTree(p.child.pid) : []));
    const phase1Cpu = await cpuDuring(gatewayPids, () => runFor(PHASE1_SECS));
    const phase1Rate = deliveries.length / ((performance.now() - phase1Started) / 1000);
    const missing1 = await waitAllSeen(10_000);
    const steady = latencies("steady");

    // Phase 2: NATS killed after 3 s, restarted OUTAGE_SECS later, 5 s more after that.
    const phase2Secs = 3 + OUTAGE_SECS + 5;
    console.log(
      `phase 2: ${phase2Secs} s at ${RATE}/s; NATS killed at 3 s, restarted at ${3 + OUTAGE_SECS} s`,
    );
    await runFor(phase2Secs, async () => {
      await sleep(3000);
      natsDown = true;
      await killHard(nats);
      await sleep(OUTAGE_SECS * 1000);
      nats = startNats(natsPort);
      await waitPort(natsPort);
      natsDown = false;
      natsRestarted = true;
    });
    // Everything must arrive: pushes after the reconnect, or the poll (2 s while down,
    // 30 s while connected) for what was delivered in the reconnect window.
    const missing2 = await waitAllSeen(45_000);
    const outage = latencies("outage");
    const after = latencies("after-outage");
    const expected = deliveries.reduce((a, d) => a + perAccount[d.account]!.length, 0);

    const phase1Count = deliveries.filter((d) => d.phase === "steady").length;
    const sorted = [...steady.values].sort((a, b) => a - b);
    const p99 = percentile(sorted, 99);
    console.log(`load        average ${load()} on ${availableParallelism()} cores at the end`);
    console.log(
      `scale       ${idling} idle sessions (2 gateway processes), ${ACCOUNTS} accounts, ${deliveries.length} deliveries ` +
        `(${errors} SMTP errors, ${skipped} skipped: no free connection/account)`,
    );
    console.log(
      `steady      ${summary(steady.values)}; ${phase1Count} deliveries (${phase1Rate.toFixed(1)}/s achieved)`,
    );
    console.log(
      `cpu         gateways ${phase1Cpu.cpu.toFixed(1)} s in phase 1: ` +
        `${((phase1Cpu.cpu * 1000) / Math.max(1, steady.values.length)).toFixed(2)} ms per idler-delivery`,
    );
    console.log(
      `target      p99 < ${TARGET_P99_MS} ms: ${p99.toFixed(1)} ms = ${(p99 / TARGET_P99_MS).toFixed(2)}x the target (${p99 < TARGET_P99_MS ? "met" : "missed"})`,
    );
    const outageP99 = percentile(
      [...outage.values].sort((a, b) => a - b),
      99,
    );
    console.log(`NATS down   ${summary(outage.values)} (poll interval while down: IMAP_IDLE_POLL_MS)`);
    console.log(
      `target      NATS down p99 < ${TARGET_OUTAGE_P99_MS} ms: ${outageP99.toFixed(1)} ms (${outageP99 < TARGET_OUTAGE_P99_MS ? "met" : "missed"})`,
    );
    console.log(`NATS back   ${summary(after.values)}`);
    const seen = countSeen(deliveries, perAccount, seenAt);
    console.log(
      `missed      ${expected - seen} of ${expected} idler-deliveries never seen` +
        `${expected === seen ? " (no update missed)" : ""}; idlers behind: ${missing1} after phase 1, ` +
        `${missing2} after phase 2; ${closedIdlers} sessions closed`,
    );
    if (steady.early + outage.early + after.early)
      console.log(
        `note        ${steady.early + outage.early + after.early} EXISTS arrived before the SMTP 250`,
      );
    for (const p of processes) {
      const pid = p.child.pid;
      if (pid) console.log(`rss         pid ${pid}: ${(await rssKb(pid)) / 1024} MB`);
    }
  } finally {
    await cleanup();
  }
  await dovecotReference();
}

function countSeen(deliveries: Delivery[], perAccount: number[][], seenAt: Map<number, number>): number {
  let n = 0;
  for (const d of deliveries) for (const id of perAccount[d.account]!) if (seenAt.has(id * 1e6 + d.n)) n++;
  return n;
}

async function rssKb(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function pssKb(pid: number): Promise<number> {
  try {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
    return Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Every process descending from `root` (by /proc/<pid>/stat's ppid), root included. */
async function descendants(root: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(name), ppid);
    } catch {}
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}

async function memoryOf(root: number): Promise<{ rss: number; pss: number; processes: number }> {
  const pids = await descendants(root);
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    rss += await rssKb(pid);
    pss += await pssKb(pid);
  }
  return { rss, pss, processes: pids.length };
}

/** Dovecot's memory per idle IMAP connection (LOGIN, SELECT INBOX, IDLE) on this machine. */
async function dovecotReference(): Promise<void> {
  const why = benchSmoke() ? "skipped (smoke mode)" : dovecotUnavailable(["imap"]);
  if (why) {
    console.log(`dovecot: ${why}`);
    return;
  }
  const sockets: Socket[] = [];
  let dovecot: Awaited<ReturnType<typeof startPrivateDovecot>> | undefined;
  try {
    dovecot = await startPrivateDovecot({
      protocols: ["imap"],
      users: ["idle"],
      password: PASSWORD,
      services: { imap: [`process_limit = ${DOVECOT_CONNS + 50}`] },
      settings: `protocol imap {\n  mail_max_userip_connections = ${DOVECOT_CONNS + 50}\n}\n`,
    });
    const port = dovecot.ports.imap!;
    const master = dovecot.pid;
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port });
        let buffer = "";
        let step = 0;
        socket.setEncoding("latin1");
        socket.on("error", reject);
        socket.on("data", (d: string) => {
          buffer += d;
          if (step === 0 && buffer.includes("\r\n")) {
            step = 1;
            socket.write(`a LOGIN idle ${PASSWORD}\r\nb SELECT INBOX\r\nc IDLE\r\n`);
          } else if (step === 1 && buffer.includes("+ idling")) {
            step = 2;
            resolve(socket);
          } else if (step === 1 && /^[ab] (NO|BAD)/m.test(buffer)) reject(new Error(buffer));
        });
      });
    // One warm-up connection so the shared parts (auth, config, login processes) exist.
    sockets.push(await open());
    await sleep(500);
    const before = await memoryOf(master);
    for (let i = 0; i < DOVECOT_CONNS; i += 20)
      sockets.push(...(await Promise.all(Array.from({ length: Math.min(20, DOVECOT_CONNS - i) }, open))));
    await sleep(1000);
    const after = await memoryOf(master);
    const n = DOVECOT_CONNS;
    console.log(
      `dovecot     ${n} idle connections: +${(after.processes - before.processes) / n} processes/connection, ` +
        `RSS ${((after.rss - before.rss) / n).toFixed(0)} KB/connection, PSS ${((after.pss - before.pss) / n).toFixed(0)} KB/connection ` +
        "(one imap process per connection, no hibernation)",
    );
  } catch (err) {
    console.log(`dovecot: not available (${(err as Error).message})`);
  } finally {
    for (const s of sockets) s.destroy();
    await dovecot?.stop();
  }
}

await main();
process.exit(0);
