/**
 * Memory per idle IMAP session: a gateway child process, then N
 * authenticated sessions that SELECT INBOX and IDLE; prints the server's RSS and
 * heap growth per session at several N, and event-loop lag while they idle.
 * The server hibernates IDLEs after 1 s (IDLE_HIBERNATE_MS, 0 = never; hibernate.ts)
 * and each step is measured 3 s after its last session started idling, as
 * Dovecot's figure is with imap_hibernate.
 *
 * The baseline is taken after a warm-up (WARMUP sessions opened and closed): the
 * first logins grow the password hashing's per-thread malloc arenas (scrypt
 * needs 16 MB a call, on every libuv pool thread) and the young generation
 * once, whatever the number of sessions after. "marginal" is the growth per
 * session between two steps.
 *
 * Client side: this process (one fd per session; the server is the child, so
 * each side stays under a 20,000-open-files limit at 19,000 sessions), with
 * sessions spread over 127.0.0.2-17 source addresses so the ephemeral ports of
 * one source address are not the limit.
 *   node --import tsx bench/idle-sessions.ts [N=2000]   (BENCH_SMOKE=1: N=40, past the
 *   default per-account session limit of 20, which the server side raises to N)
 */
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { benchSmoke } from "@aerogram/testkit";

const TOTAL = Number(process.argv[2] ?? (benchSmoke() ? 40 : 2000));
const WARMUP = Number(process.env.WARMUP ?? (benchSmoke() ? 0 : 200));
let opened = 0;
const child = spawn(
  process.execPath,
  ["--expose-gc", "--import", "tsx", new URL("./idle-server.ts", import.meta.url).pathname],
  {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, IDLE_SESSIONS: String(TOTAL) },
  },
);
const lines = createInterface({ input: child.stdout! });
const waiters: ((line: string) => void)[] = [];
lines.on("line", (line) => {
  if (line.startsWith("PORT ") || line.startsWith("MEM ")) waiters.shift()?.(line);
});
const next = () => new Promise<string>((resolve) => waiters.push(resolve));

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  sessions: number;
  hibernated: number;
  lagMs: number;
}

async function memory(): Promise<Mem> {
  const reply = next();
  child.stdin!.write("mem\n");
  return JSON.parse((await reply).slice(4)) as Mem;
}

function idleSession(port: number): Promise<Socket> {
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
        socket.write('a LOGIN "idle@example.org" "idle-pass"\r\nb SELECT INBOX\r\nc IDLE\r\n');
      } else if (step === 1 && buffer.includes("+ idling")) {
        step = 2;
        resolve(socket);
      } else if (step === 1 && /^[ab] (NO|BAD)/m.test(buffer)) reject(new Error(buffer));
    });
  });
}

const port = Number((await next()).slice(5));
const sockets: Socket[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < WARMUP; i += 100) {
  const warm = await Promise.all(Array.from({ length: Math.min(100, WARMUP - i) }, () => idleSession(port)));
  for (const s of warm) s.destroy();
}
if (WARMUP) await sleep(1000);
const base = await memory();
console.log(
  `baseline rss ${(base.rss / 1048576).toFixed(1)} MB heap ${(base.heapUsed / 1048576).toFixed(1)} MB` +
    ` (after ${WARMUP} warm-up sessions)`,
);
let previous = base;
const steps = [Math.floor(TOTAL / 4), Math.floor(TOTAL / 2), TOTAL];
for (const target of steps) {
  while (sockets.length < target) {
    const batch = Math.min(100, target - sockets.length);
    sockets.push(...(await Promise.all(Array.from({ length: batch }, () => idleSession(port)))));
  }
  // The server hibernates IDLEs after 1 s (idle-server.ts): measure after that.
  await sleep(3000);
  const m = await memory();
  const added = m.sessions - previous.sessions;
  console.log(
    `${String(m.sessions).padStart(6)} idle sessions: rss +${((m.rss - base.rss) / m.sessions / 1024).toFixed(1)} KB/session, ` +
      `heap +${((m.heapUsed - base.heapUsed) / m.sessions / 1024).toFixed(1)} KB/session, event-loop lag ${m.lagMs.toFixed(2)} ms; ` +
      `${m.hibernated} hibernated; marginal rss +${((m.rss - previous.rss) / added / 1024).toFixed(1)} KB, ` +
      `heap +${((m.heapUsed - previous.heapUsed) / added / 1024).toFixed(1)} KB per session`,
  );
  previous = m;
}
for (const s of sockets) s.destroy();
child.stdin!.write("quit\n");
