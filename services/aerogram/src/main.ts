/**
 * `npm start`: every Aerogram service in one process. With no environment it
 * runs on the embedded defaults (PGlite, ./data/blobs, in-process bus and
 * limiter); DATABASE_URL, S3_*, NATS_URL and REDIS_URL switch each part to the
 * real server. AEROGRAM_SERVICES picks a subset (one per Kubernetes Deployment).
 */
import { mkdir } from "node:fs/promises";
import { createAdminApi, StoreAdmin } from "@aerogram/admin";
import type { ServiceName } from "@aerogram/config";
import { ConfigError, loadConfig } from "@aerogram/config";
import { startImap } from "@aerogram/imap";
import { createLogger, OpsServer } from "@aerogram/observability";
import { startOutbound } from "@aerogram/outbound";
import { startPop3 } from "@aerogram/pop3";
import { createRuntime, type ServiceHandle, type ServiceStarter } from "@aerogram/runtime";
import { startSmtpIn } from "@aerogram/smtp-in";
import { Store } from "@aerogram/store";
import { runtimeDkimSecret, startSubmission } from "@aerogram/submission";
import { ensureDemoAccount } from "./demo.ts";

/** The protocol services this build has; the admin API rides on the HTTP endpoint. */
const SERVICES: Partial<Record<ServiceName, ServiceStarter>> = {
  imap: startImap,
  pop3: startPop3,
  "smtp-in": startSmtpIn,
  submission: startSubmission,
  outbound: startOutbound,
};

/** How long SIGTERM waits for sessions to finish (Kubernetes' default grace period is 30 s). */
const DRAIN_GRACE_MS = 25_000;

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
  const runtime = await createRuntime(config, { service: "aerogram", embedded: "own", log });

  const dkimKey = runtimeDkimSecret(runtime);
  // The admin API rides on the ops HTTP port (refuses every request without ADMIN_TOKEN).
  const adminApi = config.services.includes("admin")
    ? createAdminApi({
        ops: new StoreAdmin(runtime.store, {
          health: () => ops.runChecks(),
          ...(dkimKey ? { dkimSecret: dkimKey } : {}),
        }),
        token: config.adminToken,
        log,
      })
    : undefined;
  const ops = new OpsServer({
    registry: runtime.metrics,
    checks: runtime.readinessChecks,
    ...(adminApi ? { fallback: adminApi } : {}),
  });
  const http = await ops.listen(config.ports.http, config.bindAddress);

  const services: ServiceHandle[] = [];
  for (const name of config.services) {
    const start = SERVICES[name];
    if (start) services.push(await start(runtime));
  }

  const lines = [
    `Aerogram is running (pid ${process.pid})`,
    `  HTTP   http://${config.bindAddress}:${http.port}/healthz /readyz /metrics`,
  ];
  for (const s of services) for (const e of s.endpoints) lines.push(`  ${e}`);
  if (runtime.embeddedPostgres) lines.push(`  Postgres (embedded PGlite) ${runtime.embeddedPostgres.url}`);
  if (config.demoAccount) {
    const demo = await ensureDemoAccount(runtime.store, config.dataDir);
    lines.push(`  Demo account: ${demo.address}  password: ${demo.password ?? "(set elsewhere)"}`);
  }
  console.log(lines.join("\n"));

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining");
    ops.setDraining();
    await Promise.all(services.map((s) => s.drain(DRAIN_GRACE_MS)));
    await ops.close();
    await runtime.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((err) => {
  console.error("aerogram failed to start:", err instanceof Error ? err.message : err);
  process.exit(1);
});
