/**
 * Child process of idle-sessions.ts: a gateway on the test Postgres with
 * filesystem blobs; prints its port, answers "mem" on stdin with its memory
 * (after a forced GC) and event-loop lag as JSON, and "snap <file>"
 * with a heap snapshot. Every session is on one
 * account, so the per-account session limit is raised to IDLE_SESSIONS (+10):
 * the default (20) refused the 21st session and the bench stopped running.
 */
import { startTestBackend } from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";

const sessions = Number(process.env.IDLE_SESSIONS ?? 2000);
const backend = await startTestBackend({
  database: "postgres",
  blobs: "fs",
  settings: {
    LOG_LEVEL: "error",
    IMAP_MAX_SESSIONS_PER_ACCOUNT: String(sessions + 10),
    // Hibernate IDLEs after 1 s (IDLE_HIBERNATE_MS=0: never), so the figure is the hibernated one.
    IMAP_HIBERNATE_AFTER_MS: process.env.IDLE_HIBERNATE_MS ?? "1000",
  },
});
const runtime = await backend.runtime("imap-idle-bench");
await runtime.store.accounts.create({ address: "idle@example.org", password: "idle-pass" });
const server = new ImapServer(runtime);
const endpoints = await server.listen({ port: 0, host: "127.0.0.1" });
console.log(`PORT ${/:(\d+)/.exec(endpoints[0]!)![1]}`);

function lag(): Promise<number> {
  const start = performance.now();
  return new Promise((resolve) => setImmediate(() => resolve(performance.now() - start)));
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", async (line: string) => {
  if (line.trim() === "mem") {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    const cpu = process.cpuUsage();
    console.log(
      `MEM ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, sessions: server.connections, hibernated: server.hibernation.size, lagMs: await lag(), cpuUser: cpu.user })}`,
    );
  } else if (line.startsWith("snap ")) {
    // "snap <file>": a heap snapshot, to count what an idle session retains.
    (globalThis as { gc?: () => void }).gc?.();
    const { writeHeapSnapshot } = await import("node:v8");
    console.log(`SNAP ${writeHeapSnapshot(line.slice(5).trim())}`);
  } else if (line.trim() === "quit") await quit();
});
// The bench process ended without "quit" (it failed): still drop the database.
process.stdin.on("end", quit);

async function quit(): Promise<void> {
  server.close();
  await runtime.close();
  await backend.stop();
  process.exit(0);
}
