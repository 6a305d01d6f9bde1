/**
 * Child process of imap-bench.ts: the IMAP gateway alone, so its CPU is read from
 * /proc without the bench's own, and so it can run under `node --cpu-prof`.
 *
 * Configuration comes from the environment the bench prepares (DATABASE_URL,
 * BLOB_DIR or S3_*, …) plus:
 *   BENCH_PORT      the port to listen on (127.0.0.1)
 *   BENCH_USERS     accounts bench1..N@example.org to create before listening
 *   BENCH_PASSWORD  their password
 *   BENCH_GATEWAYS  gateway processes sharing the port (node:cluster workers
 *                   when > 1; the primary only creates the accounts and forks)
 * Prints "READY" once every gateway listens; SIGTERM closes it.
 */
import cluster from "node:cluster";
import { loadConfig } from "@aerogram/config";
import { createRuntime } from "@aerogram/runtime";
import { ImapServer } from "../src/server.ts";

const port = Number(process.env.BENCH_PORT ?? 0);
const users = Number(process.env.BENCH_USERS ?? 100);
const password = process.env.BENCH_PASSWORD ?? "bench-pass";
const gateways = Number(process.env.BENCH_GATEWAYS ?? 1);

async function createAccounts(): Promise<void> {
  const runtime = await createRuntime(loadConfig(), { service: "imap-bench-setup" });
  try {
    const ids = Array.from({ length: users }, (_, i) => i + 1);
    // scrypt runs on the thread pool: a few at a time keeps it busy without a burst.
    for (let i = 0; i < ids.length; i += 8) {
      await Promise.all(
        ids
          .slice(i, i + 8)
          .map((n) => runtime.store.accounts.create({ address: `bench${n}@example.org`, password })),
      );
    }
  } finally {
    await runtime.close();
  }
}

async function serve(): Promise<() => Promise<void>> {
  const runtime = await createRuntime(loadConfig(), { service: "imap-bench" });
  const server = new ImapServer(runtime);
  await server.listen({ port, host: "127.0.0.1" });
  return async () => {
    server.close();
    await runtime.close();
  };
}

if (cluster.isPrimary) {
  await createAccounts();
  if (gateways <= 1) {
    const stop = await serve();
    process.once("SIGTERM", () => void stop().finally(() => process.exit(0)));
    console.log("READY");
  } else {
    let listening = 0;
    for (let i = 0; i < gateways; i++) {
      cluster.fork().once("listening", () => {
        if (++listening === gateways) console.log("READY");
      });
    }
    process.once("SIGTERM", () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.kill("SIGTERM");
      setTimeout(() => process.exit(0), 500);
    });
  }
} else {
  const stop = await serve();
  process.once("SIGTERM", () => void stop().finally(() => process.exit(0)));
}
