/**
 * services/outbound (issue 19): the workers of the durable outbound queue.
 * `AEROGRAM_SERVICES=outbound` (or `all`, as `npm start` runs) starts
 * OUTBOUND_WORKERS worker loops sharing the queue with every other replica.
 */
import { Delivery } from "@aerogram/delivery";
import type { Runtime, ServiceHandle, ServiceStarter } from "@aerogram/runtime";
import { OutboundMetrics } from "./metrics.ts";
import { systemMtaSts } from "./mta-sts.ts";
import { parseRoutes } from "./routes.ts";
import { OutboundWorker, type WorkerOptions } from "./worker.ts";

export { bounce } from "./bounce.ts";
export { buildDsn, type DsnInput, statusOf } from "./dsn.ts";
export { OutboundMetrics } from "./metrics.ts";
export { MtaSts, mxMatches, parsePolicy, type StsPolicy, systemMtaSts } from "./mta-sts.ts";
export { type MxLookup, mailHosts } from "./mx.ts";
export { nextAttemptDelayMs } from "./retry-schedule.ts";
export { parseRoutes, type RouteTable, type RouteTarget, routeFor } from "./routes.ts";
export { type TransferOutcome, transfer } from "./smtp-transfer.ts";
export { OutboundWorker, type WorkerOptions } from "./worker.ts";

export function workerOptions(runtime: Runtime, overrides: Partial<WorkerOptions> = {}): WorkerOptions {
  const o = runtime.config.outbound;
  return {
    hostname: runtime.config.hostname,
    routes: parseRoutes(o.routes),
    retryScheduleMs: o.retryScheduleMs,
    concurrency: o.concurrency,
    domainConcurrency: o.domainConcurrency,
    leaseMs: o.leaseMs,
    pollMs: o.pollMs,
    timeoutMs: o.timeoutMs,
    connectTimeoutMs: o.connectTimeoutMs,
    greetingTimeoutMs: o.greetingTimeoutMs,
    dataDoneTimeoutMs: o.dataDoneTimeoutMs,
    delayNoticeMs: o.delayNoticeMs,
    ...(o.mtaSts ? { mtaSts: systemMtaSts() } : {}),
    ...overrides,
  };
}

export function createWorker(runtime: Runtime, overrides: Partial<WorkerOptions> = {}): OutboundWorker {
  return new OutboundWorker(
    {
      store: runtime.store,
      blobs: runtime.blobs,
      delivery: new Delivery({ store: runtime.store, blobs: runtime.blobs, events: runtime.events }),
      log: runtime.log.child({ component: "outbound" }),
      metrics: new OutboundMetrics(runtime.metrics, runtime.store),
    },
    workerOptions(runtime, overrides),
  );
}

export const startOutbound: ServiceStarter = async (runtime): Promise<ServiceHandle> => {
  const workers = Array.from({ length: runtime.config.outbound.workers }, () => createWorker(runtime));
  for (const w of workers) w.start();
  runtime.log.info(
    { workers: workers.length, routes: runtime.config.outbound.routes ?? "(MX)" },
    "outbound workers running",
  );
  return {
    name: "outbound",
    endpoints: workers.length ? [`outbound ${workers.length} worker(s)`] : [],
    connections: () => 0,
    drain: async (graceMs) => {
      await Promise.all(workers.map((w) => w.stop(graceMs)));
    },
  };
};
