/**
 * Child process of idle-sessions.ts: a gateway on the test Postgres with
 * filesystem blobs; prints its port, answers "mem" on stdin with its memory
 * (after a forced GC) and event-loop lag as JSON.
 */
import { loadConfig } from "@aerogram/config";
import { createRuntime } from "@aerogram/runtime";
import { createTestDatabase, tempDir } from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";

const dir = await tempDir("aerogram-idle-");
const db = await createTestDatabase();
const runtime = await createRuntime(
  loadConfig({ DATABASE_URL: db.url, BLOB_DIR: `${dir.path}/blobs`, DATA_DIR: dir.path, LOG_LEVEL: "error" }),
  { service: "imap-idle-bench" },
);
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
      `MEM ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, sessions: server.connections, lagMs: await lag(), cpuUser: cpu.user })}`,
    );
  } else if (line.trim() === "quit") {
    server.close();
    await runtime.close();
    await db.drop();
    await dir.remove();
    process.exit(0);
  }
});
