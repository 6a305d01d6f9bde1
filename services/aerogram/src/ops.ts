/** The ops HTTP endpoint (/healthz, /readyz, /metrics) with the admin API behind it, and the start banner. */
import {
  createAdminApi,
  createAutoconfig,
  isAutoconfigPath,
  lifecycleJobRoutes,
  StoreAdmin,
} from "@aerogram/admin";
import { revokeSessions } from "@aerogram/auth";
import { OpsServer, type ReadinessCheck, type Registry } from "@aerogram/observability";
import type { Runtime } from "@aerogram/runtime";
import { runtimeDkimSecret } from "@aerogram/submission";
import { ensureDemoAccount } from "./demo.ts";

export function createOps(runtime: Runtime, metrics: Registry, checks: ReadinessCheck[]): OpsServer {
  // The admin API rides on the ops HTTP port (refuses every request without ADMIN_TOKEN).
  const dkimSecret = runtimeDkimSecret(runtime);
  const adminApi = runtime.config.services.includes("admin")
    ? createAdminApi({
        ops: new StoreAdmin(runtime.store, {
          health: () => ops.runChecks(),
          revokeSessions: (accountId) => revokeSessions(runtime.events, accountId),
          ...(dkimSecret ? { dkimSecret } : {}),
        }),
        token: runtime.config.adminToken,
        log: runtime.log,
        // Export/import jobs for large accounts (issue 22).
        extraRoutes: lifecycleJobRoutes(runtime),
      })
    : undefined;
  // Client autoconfiguration (Thunderbird, Outlook, Apple) on the same port, without a token.
  const autoconfig = createAutoconfig({
    store: runtime.store,
    endpoints: runtime.config.identity.publicEndpoints,
  });
  const ops: OpsServer = new OpsServer({
    registry: metrics,
    checks,
    fallback: (req, res) => {
      if (isAutoconfigPath(req.url)) autoconfig(req, res);
      else if (adminApi) adminApi(req, res);
      else {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("not found\n");
      }
    },
  });
  return ops;
}

/** What `npm start` prints once everything listens (tests and newcomers read it). */
export async function banner(
  runtime: Runtime,
  httpPort: number,
  endpoints: string[],
  workers: number,
): Promise<string> {
  const { config } = runtime;
  const lines = [
    `Aerogram is running (pid ${process.pid}${workers > 1 ? `, ${workers} workers` : ""})`,
    `  HTTP   http://${config.bindAddress}:${httpPort}/healthz /readyz /metrics`,
  ];
  for (const e of endpoints) lines.push(`  ${e}`);
  if (runtime.embeddedPostgres) lines.push(`  Postgres (embedded PGlite) ${runtime.embeddedPostgres.url}`);
  if (config.demoAccount) {
    const demo = await ensureDemoAccount(runtime.store, config.dataDir);
    lines.push(`  Demo account: ${demo.address}  password: ${demo.password ?? "(set elsewhere)"}`);
  }
  return lines.join("\n");
}
