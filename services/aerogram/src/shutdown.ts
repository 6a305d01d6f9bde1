/**
 * The process's shutdown on SIGTERM/SIGINT, the same in single-process and
 * cluster mode: once only; readiness goes to "draining" first (so a load
 * balancer stops sending), then the services drain, then the ops server and
 * last the runtime (the database) close.
 */
import type { Logger } from "@aerogram/observability";

export interface ShutdownSteps {
  log: Logger;
  ops: { setDraining(): void; close(): Promise<void> };
  runtime: { close(): Promise<void> };
  /** Drains the services (in-process, or by telling the workers and waiting for them). */
  drain: () => Promise<void>;
  /** Extra fields for the "draining" log line. */
  describe?: () => Record<string, unknown>;
}

export function shutdownOnSignals(steps: ShutdownSteps): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    steps.log.info({ signal, ...steps.describe?.() }, "draining");
    steps.ops.setDraining();
    await steps.drain();
    await steps.ops.close();
    // The database last: the services (or workers) were using it until they stopped.
    await steps.runtime.close();
    steps.log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
