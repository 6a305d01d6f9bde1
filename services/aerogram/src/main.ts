/**
 * `npm start`: every Aerogram service. With no environment it runs on the
 * embedded defaults (PGlite, ./data/blobs, in-process bus and limiter);
 * DATABASE_URL, S3_*, NATS_URL and REDIS_URL switch each part to the real
 * server. AEROGRAM_SERVICES picks a subset (one per Kubernetes Deployment).
 * AEROGRAM_WORKERS (default: the number of cores) forks that many node:cluster
 * workers sharing the mail listeners (cluster/); 1 runs everything in this
 * one process.
 */
import cluster from "node:cluster";
import { mkdir } from "node:fs/promises";
import { ConfigError, loadConfig } from "@aerogram/config";
import { createLogger } from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { runPrimary } from "./cluster/primary.ts";
import { runWorker } from "./cluster/worker.ts";
import { runSingle } from "./single.ts";

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, service: "aerogram" });
  if (cluster.isWorker) return runWorker(config, log.child({ worker: cluster.worker?.id }));
  await mkdir(config.dataDir, { recursive: true });
  // `--migrate-only` (the Helm chart's pre-install/pre-upgrade Job): apply the migrations and exit.
  if (process.argv.includes("--migrate-only")) {
    if (!config.database.url) throw new Error("--migrate-only needs DATABASE_URL");
    const store = await Store.open({
      url: config.database.url,
      poolMax: 1,
      applicationName: "aerogram-migrate",
    });
    await store.close();
    log.info("migrations applied");
    process.exit(0);
  }
  if (config.workers === 1) return runSingle(config, log);
  return runPrimary(config, log);
}

main().catch((err) => {
  console.error("aerogram failed to start:", err instanceof Error ? err.message : err);
  process.exit(1);
});
