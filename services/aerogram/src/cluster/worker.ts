/**
 * A cluster worker: runs the mail services on listeners shared with the other
 * workers (node:cluster hands each accepted connection to one of them). It
 * asks the primary first where the embedded database is and whether the bus
 * and limiter are shared through it, then builds its runtime.
 */
import type { Config } from "@aerogram/config";
import type { Logger } from "@aerogram/observability";
import { createRuntime } from "@aerogram/runtime";
import type { Registry } from "prom-client";
import { DRAIN_GRACE_MS, drainServices, startServices } from "../services.ts";
import { isAerogramMessage, type ToPrimary, type ToWorker } from "./messages.ts";
import { WorkerEventBus } from "./shared-bus.ts";
import { WorkerLimiter } from "./shared-limiter.ts";

const send = (message: ToPrimary) => {
  if (process.connected) process.send?.(message);
};

export async function runWorker(config: Config, log: Logger): Promise<void> {
  const bus = new WorkerEventBus((err) => log.warn({ err }, "event handler error"));
  const limiter = new WorkerLimiter();
  let metricsOf: (() => ReturnType<Registry["getMetricsAsJSON"]>) | undefined;
  let drain: ((graceMs: number) => void) | undefined;
  let initialised: (init: Extract<ToWorker, { ag: "init" }>) => void = () => {};
  const init = new Promise<Extract<ToWorker, { ag: "init" }>>((resolve) => {
    initialised = resolve;
  });

  process.on("message", (message: unknown) => {
    if (!isAerogramMessage<ToWorker>(message)) return;
    switch (message.ag) {
      case "init":
        initialised(message);
        break;
      case "event":
        bus.deliver(message.event);
        break;
      case "limit-reply":
        limiter.settle(message);
        break;
      case "metrics-request":
        void metricsOf?.().then((metrics) => send({ ag: "metrics", id: message.id, metrics }));
        break;
      case "drain":
        drain?.(message.graceMs);
        break;
    }
  });
  process.on("disconnect", () => limiter.failAll());
  send({ ag: "hello" });
  const { embeddedUrl, sharedEvents, sharedLimits } = await init;

  const runtime = await createRuntime(config, {
    service: "aerogram",
    log,
    ...(embeddedUrl ? { embeddedUrl } : {}),
    ...(sharedEvents ? { events: bus } : {}),
    ...(sharedLimits ? { limits: limiter } : {}),
  });
  metricsOf = () => runtime.metrics.getMetricsAsJSON();
  const services = await startServices(runtime);

  let stopping = false;
  drain = (graceMs: number) => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await drainServices(services, graceMs);
      await runtime.close();
      process.exit(0);
    })();
  };
  // SIGINT reaches every process of the terminal's group; SIGTERM may be sent to a worker alone.
  process.on("SIGTERM", () => drain?.(DRAIN_GRACE_MS));
  process.on("SIGINT", () => drain?.(DRAIN_GRACE_MS));
  send({ ag: "listening", endpoints: services.flatMap((s) => s.endpoints) });
}
