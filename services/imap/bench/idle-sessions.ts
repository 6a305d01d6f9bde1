/**
 * Memory per idle IMAP session: a gateway child process, then N
 * authenticated sessions that SELECT INBOX and IDLE; prints the server's RSS,
 * PSS and heap growth per session at several N, and event-loop lag while they idle.
 * The server hibernates IDLEs after 1 s (IDLE_HIBERNATE_MS, 0 = never; hibernate.ts)
 * and each step, like the baseline, is measured IDLE_SETTLE_MS (15 s) after its
 * last session started idling: V8's memory reducer gives back the young
 * generation and pooled pages ~8 s after a burst of allocation (here, the
 * logins), so measuring sooner counts the burst's garbage as sessions' memory
 * at one step and not at the next (growth per session then even came out negative).
 *
 * Reference: a private Dovecot with imap_hibernate_timeout = 1s (its idle
 * connections are held by one imap-hibernate process), the same sessions, its
 * whole process tree's PSS and RSS growth per connection (/proc smaps_rollup).
 * Rounds alternate Aerogram and Dovecot (IDLE_ROUNDS, 3; Dovecot at
 * min(N, IDLE_DOVECOT_MAX=5000) connections); min/median/max at the end.
 * Dovecot hibernates a connection only with an inotify instance for it, all
 * under one mail UID here: past fs.inotify.max_user_instances (128 by default)
 * its connections stay in one imap process each (~0.5 MB PSS), so the
 * reference runs at most that many connections minus a margin, and says so.
 *
 * The baseline is taken after a warm-up (WARMUP sessions opened and closed): the
 * first logins grow the password hashing's per-thread malloc arenas (scrypt
 * needs 16 MB a call, on every libuv pool thread) and the young generation
 * once, whatever the number of sessions after. "marginal" is the growth per
 * session between two steps.
 *
 * Every memory figure is the median of IDLE_SAMPLES (5) readings taken
 * IDLE_SAMPLE_GAP_MS (2 s) apart, each after a forced GC, with the spread of
 * the RSS readings printed beside it.
 *
 * Client side: this process (one fd per session; the server is the child, so
 * each side stays under a 20,000-open-files limit at 19,000 sessions), with
 * sessions spread over 127.0.0.2-17 source addresses so the ephemeral ports of
 * one source address are not the limit.
 *   node --import tsx bench/idle-sessions.ts [N=2000]   (BENCH_SMOKE=1: N=40, past the
 *   default per-account session limit of 20, which the server side raises to N; one
 *   round, no Dovecot)
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import {
  benchKnob,
  benchSmoke,
  cpuSeconds,
  dovecotUnavailable,
  processTree,
  startPrivateDovecot,
  summary,
} from "@aerogram/testkit";

const TOTAL = Number(process.argv[2] ?? (benchSmoke() ? 40 : 2000));
const WARMUP = benchKnob("WARMUP", 200, 0);
const ROUNDS = benchKnob("IDLE_ROUNDS", 3, 1);
const DOVECOT_MAX = benchKnob("IDLE_DOVECOT_MAX", 5000, 0);
const SETTLE_MS = benchKnob("IDLE_SETTLE_MS", 15_000, 1500);
/**
 * Readings per measurement (each after a forced GC), IDLE_SAMPLE_GAP_MS apart;
 * the median counts. One reading at 5,000 sessions moved by ±30 MB (V8 and
 * malloc giving pages back at moments of their choosing), as much as the
 * sessions' whole footprint.
 */
const SAMPLES = benchKnob("IDLE_SAMPLES", 5, 2);
const SAMPLE_GAP_MS = benchKnob("IDLE_SAMPLE_GAP_MS", 2000, 200);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let opened = 0;

interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  sessions: number;
  hibernated: number;
  lagMs: number;
}

/** Proportional set size of a process tree, in bytes. */
function pssOf(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return kb * 1024;
}

function rssOf(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return kb * 1024;
}

function idleSession(port: number, user: string, pass: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress: `127.0.0.${2 + (opened++ % 16)}` });
    let buffer = "";
    let step = 0;
    socket.setEncoding("latin1");
    socket.on("error", reject);
    socket.on("data", (data: string) => {
      buffer += data;
      if (step === 0 && buffer.includes("\r\n")) {
        step = 1;
        buffer = "";
        socket.write(`a LOGIN "${user}" "${pass}"\r\nb SELECT INBOX\r\nc IDLE\r\n`);
      } else if (step === 1 && buffer.includes("+ idling")) {
        step = 2;
        resolve(socket);
      } else if (step === 1 && /^[ab] (NO|BAD)/m.test(buffer)) reject(new Error(buffer));
    });
  });
}

async function openUpTo(sockets: Socket[], target: number, open: () => Promise<Socket>): Promise<void> {
  while (sockets.length < target) {
    const batch = Math.min(100, target - sockets.length);
    sockets.push(...(await Promise.all(Array.from({ length: batch }, open))));
  }
}

const kb = (bytes: number) => (bytes / 1024).toFixed(1);

/** One Aerogram round; returns RSS and PSS KB/session growth at N. */
async function aerogramRound(): Promise<{
  rss: number;
  pss: number;
  heap: number;
  cpuMs: number;
  released: number;
}> {
  const child = spawn(
    process.execPath,
    [
      "--expose-gc",
      // A young generation of fixed, small size: it grows in bursts of allocation
      // (logins) and shrinks when V8 gets round to it, and which of its pages are
      // resident changes with every scavenge. At 16 MB semi-spaces, five readings
      // of an idle process 2 s apart spread over 35-70 MB of RSS (as much as
      // 5,000 sessions' whole footprint); at 1 MB that noise is a few MB.
      "--min-semi-space-size=1",
      "--max-semi-space-size=1",
      "--import",
      "tsx",
      new URL("./idle-server.ts", import.meta.url).pathname,
    ],
    {
      stdio: ["pipe", "pipe", "inherit"],
      // glibc's dynamic mmap threshold would keep scrypt's 16 MB blocks (one per
      // libuv pool thread) in malloc arenas, trimmed or not at random moments.
      env: { MALLOC_MMAP_THRESHOLD_: "131072", ...process.env, IDLE_SESSIONS: String(TOTAL) },
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const waiters: ((line: string) => void)[] = [];
  lines.on("line", (line) => {
    if (line.startsWith("PORT ") || line.startsWith("MEM ")) waiters.shift()?.(line);
  });
  const next = () => new Promise<string>((resolve) => waiters.push(resolve));
  const reading = async (): Promise<Mem & { pss: number }> => {
    const reply = next();
    child.stdin!.write("mem\n");
    const m = JSON.parse((await reply).slice(4)) as Mem;
    return { ...m, pss: pssOf([child.pid!]) };
  };
  /** SAMPLES readings; each figure is its median over them (lag: the largest). */
  const memory = async (): Promise<Mem & { pss: number; spreadRss: number }> => {
    const all: (Mem & { pss: number })[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      if (i > 0) await sleep(SAMPLE_GAP_MS);
      all.push(await reading());
    }
    const mid = (pick: (m: Mem & { pss: number }) => number) => summary(all.map(pick)).median;
    const rss = summary(all.map((m) => m.rss));
    return {
      rss: rss.median,
      pss: mid((m) => m.pss),
      heapUsed: mid((m) => m.heapUsed),
      heapTotal: mid((m) => m.heapTotal),
      external: mid((m) => m.external),
      sessions: all[all.length - 1]!.sessions,
      hibernated: all[all.length - 1]!.hibernated,
      lagMs: Math.max(...all.map((m) => m.lagMs)),
      spreadRss: rss.max - rss.min,
    };
  };
  const port = Number((await next()).slice(5));
  const open = () => idleSession(port, "idle@example.org", "idle-pass");
  const sockets: Socket[] = [];
  for (let i = 0; i < WARMUP; i += 100) {
    const warm = await Promise.all(Array.from({ length: Math.min(100, WARMUP - i) }, open));
    for (const s of warm) s.destroy();
  }
  await sleep(SETTLE_MS);
  const base = await memory();
  console.log(
    `aerogram baseline rss ${(base.rss / 1048576).toFixed(1)} MB heap ${(base.heapUsed / 1048576).toFixed(1)} MB` +
      ` (after ${WARMUP} warm-up sessions; median of ${SAMPLES} readings, rss spread ${kb(base.spreadRss)} KB)`,
  );
  let previous = base;
  const cpuBefore = cpuSeconds(child.pid!);
  for (const target of [Math.floor(TOTAL / 4), Math.floor(TOTAL / 2), TOTAL]) {
    await openUpTo(sockets, target, open);
    await sleep(SETTLE_MS);
    const m = await memory();
    const added = m.sessions - previous.sessions;
    console.log(
      `${String(m.sessions).padStart(6)} idle sessions: rss +${kb((m.rss - base.rss) / m.sessions)} KB/session, ` +
        `pss +${kb((m.pss - base.pss) / m.sessions)} KB/session, ` +
        `heap +${kb((m.heapUsed - base.heapUsed) / m.sessions)} KB/session (committed +${kb((m.heapTotal - base.heapTotal) / m.sessions)}, ` +
        `external +${kb((m.external - base.external) / m.sessions)}), event-loop lag ${m.lagMs.toFixed(2)} ms; ` +
        `${m.hibernated} hibernated; marginal rss +${kb((m.rss - previous.rss) / added)} KB, ` +
        `heap +${kb((m.heapUsed - previous.heapUsed) / added)} KB per session; ` +
        `rss spread over ${SAMPLES} readings ${kb(m.spreadRss)} KB`,
    );
    previous = m;
  }
  const cpuMs = ((cpuSeconds(child.pid!) - cpuBefore) * 1000) / TOTAL;
  // Cross-check of the growth from the baseline (which startup garbage released
  // later can make too low, even negative): what the process gives back when the
  // sessions close (allocators keep some, so this errs low too).
  for (const s of sockets) s.destroy();
  await sleep(SETTLE_MS);
  const closed = await memory();
  console.log(
    `closed: ${closed.sessions} sessions left; released rss ${kb((previous.rss - closed.rss) / TOTAL)} KB, ` +
      `pss ${kb((previous.pss - closed.pss) / TOTAL)} KB, heap ${kb((previous.heapUsed - closed.heapUsed) / TOTAL)} KB per session`,
  );
  const exited = new Promise((r) => child.once("exit", r));
  child.stdin!.write("quit\n");
  await exited;
  return {
    released: (previous.rss - closed.rss) / TOTAL / 1024,
    rss: (previous.rss - base.rss) / TOTAL / 1024,
    pss: (previous.pss - base.pss) / TOTAL / 1024,
    heap: (previous.heapUsed - base.heapUsed) / TOTAL / 1024,
    cpuMs,
  };
}

/** One Dovecot round (imap_hibernate_timeout = 1s) at min(N, DOVECOT_MAX) connections. */
async function dovecotRound(n: number): Promise<{ rss: number; pss: number; cpuMs: number } | string> {
  const why = dovecotUnavailable(["imap"]);
  if (why) return why;
  const limit = n + 100;
  const dovecot = await startPrivateDovecot({
    protocols: ["imap"],
    users: ["idle"],
    password: "idle-pass",
    services: {
      "imap-login": ["service_count = 0", "process_min_avail = 2", `client_limit = ${limit}`],
      imap: [
        `process_limit = ${limit}`,
        "unix_listener imap-master {\n    user = $default_internal_user\n  }",
      ],
    },
    settings:
      `default_client_limit = ${limit}\ndefault_vsz_limit = 0\nimap_hibernate_timeout = 1s\n` +
      `service imap-hibernate {\n  client_limit = ${limit}\n  unix_listener imap-hibernate {\n    mode = 0660\n    group = $default_internal_group\n  }\n}\n` +
      `protocol imap {\n  mail_max_userip_connections = ${limit}\n}\n`,
  });
  const sockets: Socket[] = [];
  try {
    const port = dovecot.ports.imap!;
    const open = () => idleSession(port, "idle", "idle-pass");
    // Warm-up: the login, auth, config and hibernate processes exist before the baseline.
    const warm = await Promise.all(Array.from({ length: Math.min(20, n) }, open));
    await sleep(2000);
    for (const s of warm) s.destroy();
    await sleep(1000);
    const before = processTree(dovecot.pid);
    const base = { rss: rssOf(before), pss: pssOf(before) };
    const cpu0 = processTree(dovecot.pid).reduce((a, p) => a + cpuSeconds(p), 0) + cpuSeconds(dovecot.pid);
    await openUpTo(sockets, n, open);
    await sleep(3000);
    const tree = processTree(dovecot.pid);
    const after = { rss: rssOf(tree), pss: pssOf(tree) };
    // The master's cutime counts the imap processes that exited after hibernating.
    const cpu1 = tree.reduce((a, p) => a + cpuSeconds(p), 0) + cpuSeconds(dovecot.pid);
    console.log(
      `dovecot  ${n} idle connections (imap_hibernate_timeout 1s): ${tree.length} processes, ` +
        `rss +${kb((after.rss - base.rss) / n)} KB/connection, pss +${kb((after.pss - base.pss) / n)} KB/connection`,
    );
    return {
      rss: (after.rss - base.rss) / n / 1024,
      pss: (after.pss - base.pss) / n / 1024,
      cpuMs: ((cpu1 - cpu0) * 1000) / n,
    };
  } finally {
    for (const s of sockets) s.destroy();
    await dovecot.stop();
  }
}

const ours: Awaited<ReturnType<typeof aerogramRound>>[] = [];
const theirs: { rss: number; pss: number; cpuMs: number }[] = [];
const inotifyInstances = (() => {
  try {
    return Number(readFileSync("/proc/sys/fs/inotify/max_user_instances", "utf8"));
  } catch {
    return Number.POSITIVE_INFINITY;
  }
})();
const dovecotN = Math.min(TOTAL, DOVECOT_MAX, inotifyInstances - 16);
if (dovecotN < Math.min(TOTAL, DOVECOT_MAX) && !benchSmoke())
  console.log(
    `dovecot reference at ${dovecotN} connections: fs.inotify.max_user_instances is ${inotifyInstances}, ` +
      "and Dovecot hibernates only connections with an inotify instance (one mail UID here)",
  );
const loads: number[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  console.log(`round ${round}/${ROUNDS} (load average ${loadavg()[0]!.toFixed(1)})`);
  loads.push(loadavg()[0]!);
  ours.push(await aerogramRound());
  if (benchSmoke() || dovecotN === 0) continue;
  const d = await dovecotRound(dovecotN).catch((err: Error) => `not available (${err.message})`);
  if (typeof d === "string") console.log(`dovecot: ${d}`);
  else theirs.push(d);
}
const fmt = (values: number[], digits = 1) => {
  const s = summary(values);
  return `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}`;
};
console.log(`\nKB per idle session, min / median / max of ${ROUNDS} rounds (load ${fmt(loads)})`);
console.log(
  "| server | sessions | RSS KB/session | PSS KB/session | RSS released on close | heap KB/session | CPU ms/session setup |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
console.log(
  `| aerogram (hibernated) | ${TOTAL} | ${fmt(ours.map((o) => o.rss))} | ${fmt(ours.map((o) => o.pss))} | ` +
    `${fmt(ours.map((o) => o.released))} | ${fmt(ours.map((o) => o.heap))} | ${fmt(ours.map((o) => o.cpuMs))} |`,
);
if (theirs.length)
  console.log(
    `| dovecot (imap_hibernate) | ${dovecotN} | ${fmt(theirs.map((o) => o.rss))} | ${fmt(theirs.map((o) => o.pss))} | - | - | ` +
      `${fmt(theirs.map((o) => o.cpuMs))} |`,
  );
process.exit(0);
