/** AEROGRAM_WORKERS=1: every service in this one process, no cluster. */
import type { Config } from "@aerogram/config";
import type { Logger } from "@aerogram/observability";
import { createRuntime } from "@aerogram/runtime";
import { banner, createOps } from "./ops.ts";
import { DRAIN_GRACE_MS, drainServices, startServices } from "./services.ts";
import { shutdownOnSignals } from "./shutdown.ts";

export async function runSingle(config: Config, log: Logger): Promise<void> {
  const runtime = await createRuntime(config, { service: "aerogram", embedded: "own", log });
  const ops = createOps(runtime, runtime.metrics, runtime.readinessChecks);
  const http = await ops.listen(config.ports.http, config.bindAddress);
  const services = await startServices(runtime);
  console.log(
    await banner(
      runtime,
      http.port,
      services.flatMap((s) => s.endpoints),
      1,
    ),
  );

  shutdownOnSignals({
    log,
    ops,
    runtime,
    drain: () => drainServices(services, DRAIN_GRACE_MS),
  });
}
