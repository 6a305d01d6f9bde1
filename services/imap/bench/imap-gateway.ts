/**
 * Child process of imap-bench.ts: the IMAP gateway alone, so its CPU is read from
 * /proc without the bench's own, and so it can run under `node --cpu-prof`.
 *
 * Configuration comes from the environment the bench prepares (DATABASE_URL,
 * BLOB_DIR or S3_*, …) plus:
 *   BENCH_PORT      the port to listen on (127.0.0.1)
 *   BENCH_USERS     accounts bench1..N@example.org to create before listening
 *   BENCH_PASSWORD  their password
 *   BENCH_GATEWAYS  gateway processes sharing the port: > 1 runs `npm start`'s
 *                   worker model (services/aerogram, AEROGRAM_WORKERS=N, IMAP only)
 *   BENCH_SQL_COUNT when set, each gateway counts the SQL statements it sends
 *                   (by text) and prints the top ones to stderr on SIGTERM
 * Prints "READY" once every gateway listens; SIGTERM closes it.
 */
import { spawn } from "node:child_process";
import cluster from "node:cluster";
import { resolve } from "node:path";
import { loadConfig } from "@aerogram/config";
import { createRuntime } from "@aerogram/runtime";
import pg from "pg";
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

/** Statement texts sent by this process (BENCH_SQL_COUNT): the profile's SQL side. */
const statements = new Map<string, number>();

function countStatements(): void {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === "string" ? first : (first as { text?: string } | undefined)?.text;
    if (text) {
      const key = text.replace(/\s+/g, " ").slice(0, 110);
      statements.set(key, (statements.get(key) ?? 0) + 1);
    }
    return original.apply(this, args);
  };
}

function printStatements(): void {
  const total = [...statements.values()].reduce((a, b) => a + b, 0);
  const top = [...statements].sort((a, b) => b[1] - a[1]).slice(0, 25);
  process.stderr.write(
    `SQL statements ${total}\n${top.map(([k, n]) => `${String(n).padStart(7)} ${k}`).join("\n")}\n`,
  );
}

async function serve(): Promise<() => Promise<void>> {
  if (process.env.BENCH_SQL_COUNT) countStatements();
  const runtime = await createRuntime(loadConfig(), { service: "imap-bench" });
  const server = new ImapServer(runtime);
  await server.listen({ port, host: "127.0.0.1" });
  return async () => {
    if (process.env.BENCH_SQL_COUNT) printStatements();
    server.close();
    await runtime.close();
  };
}

/**
 * BENCH_GATEWAYS > 1: the product's own worker model (services/aerogram,
 * AEROGRAM_WORKERS node:cluster workers sharing the IMAP listener), as `npm start`
 * runs it, in a child process of this one (so its CPU counts in this tree).
 */
async function serveWorkers(): Promise<() => Promise<void>> {
  const main = resolve(import.meta.dirname, "../../aerogram/src/main.ts");
  const child = spawn(process.execPath, [...process.execArgv, main], {
    env: {
      ...process.env,
      AEROGRAM_WORKERS: String(gateways),
      AEROGRAM_SERVICES: "imap",
      IMAP_PORT: String(port),
      HTTP_PORT: String(port + 2),
      BIND_ADDRESS: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  // However this process ends (the bench's SIGTERM while the workers still start,
  // at a load of 50 that takes minutes), the workers' process ends with it.
  process.once("exit", () => child.kill("SIGTERM"));
  await new Promise<void>((res, rej) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      // The primary prints its banner once every worker listens.
      if (/IMAP\s/.test(out)) res();
    });
    child.once("exit", (code) => rej(new Error(`aerogram exited ${code}: ${out}`)));
  });
  return () =>
    new Promise<void>((res) => {
      child.once("exit", () => res());
      child.kill("SIGTERM");
    });
}

if (cluster.isPrimary) {
  let stop: (() => Promise<void>) | undefined;
  // Installed before the start: a SIGTERM while starting exits (and the exit handler
  // above stops the workers) instead of dying by the signal and orphaning them.
  process.once("SIGTERM", () => void (stop ?? (async () => {}))().finally(() => process.exit(0)));
  await createAccounts();
  stop = gateways <= 1 ? await serve() : await serveWorkers();
  console.log("READY");
}
