/**
 * The cluster primary (AEROGRAM_WORKERS > 1). It serves no mail: it owns what
 * exists once per instance and forks the workers that do.
 * - The embedded PGlite (one process may open it): workers connect to its socket.
 * - With no NATS/Redis: the in-process bus and limiter, shared with the workers
 *   over IPC (shared-bus.ts, shared-limiter.ts), so IDLE wake-ups, POP3 locks
 *   and session limits hold across workers. With NATS/Redis the workers use
 *   those directly and the primary only supervises.
 * - The ops HTTP port: /readyz (its own probes plus "every worker listens"),
 *   /metrics summed over all processes, the admin API.
 * - Supervision: a worker that dies is replaced (with a back-off when it keeps
 *   dying young); SIGTERM drains every worker within the grace period and then
 *   stops the database last.
 */
import cluster, { type Worker } from "node:cluster";
import type { Config } from "@aerogram/config";
import { MemoryLimiter } from "@aerogram/limits";
import type { Logger } from "@aerogram/observability";
import { createRuntime } from "@aerogram/runtime";
import { banner, createOps } from "../ops.ts";
import { DRAIN_GRACE_MS } from "../services.ts";
import { shutdownOnSignals } from "../shutdown.ts";
import { isAerogramMessage, type ToPrimary, type ToWorker } from "./messages.ts";
import { ClusterRegistry } from "./metrics.ts";
import { HubEventBus } from "./shared-bus.ts";
import { LimiterHub } from "./shared-limiter.ts";

/** A worker that lived at least this long before dying is replaced at once. */
const HEALTHY_LIFETIME_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;
/** After the drain grace: time for workers to close their runtimes before they are killed. */
const EXIT_SLACK_MS = 4_000;

export async function runPrimary(config: Config, log: Logger): Promise<void> {
  // Workers accept on the shared listening socket themselves. Node's default
  // on Linux (round-robin) has the primary accept every connection and pass
  // it over IPC: 1-1.5 ms of the primary's CPU per SMTP message plus the
  // IPC in the worker, measured with the smtp-in bench.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // Structured clone on the IPC channel: limiter calls pass `undefined` arguments.
  cluster.setupPrimary({ serialization: "advanced" });
  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);

  const sharedEvents = config.events.kind === "memory";
  const sharedLimits = config.limits.kind === "memory";
  const bus = sharedEvents
    ? new HubEventBus(live, (err) => log.warn({ err }, "event handler error"))
    : undefined;
  const limiter = sharedLimits ? new MemoryLimiter() : undefined;
  const limiterHub = limiter ? new LimiterHub(limiter) : undefined;
  const runtime = await createRuntime(config, {
    service: "aerogram",
    embedded: "own",
    log,
    ...(bus ? { events: bus } : {}),
    ...(limiter ? { limits: limiter } : {}),
  });
  const embeddedUrl = runtime.embeddedPostgres?.url;

  const listening = new Map<number, string[]>();
  const metrics = new ClusterRegistry(runtime.metrics, live);
  const ops = createOps(runtime, metrics, [
    ...runtime.readinessChecks,
    {
      name: "workers",
      probe: async () => {
        if (listening.size < config.workers)
          throw new Error(`${listening.size} of ${config.workers} workers listening`);
      },
    },
  ]);
  const http = await ops.listen(config.ports.http, config.bindAddress);

  let stopping = false;
  let everyoneListened = false;
  let firstFailure: ((err: Error) => void) | undefined;
  const allListening = new Promise<void>((resolve, reject) => {
    firstFailure = reject;
    const check = setInterval(() => {
      if (listening.size >= config.workers) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });

  const onMessage = (worker: Worker, message: unknown) => {
    if (!isAerogramMessage<ToPrimary>(message)) return;
    switch (message.ag) {
      case "hello": {
        const init: ToWorker = { ag: "init", embeddedUrl, sharedEvents, sharedLimits };
        worker.send(init);
        break;
      }
      case "listening":
        listening.set(worker.id, message.endpoints);
        break;
      case "event":
        bus?.publish(message.event, worker.id);
        break;
      case "watch":
        bus?.watch(worker.id, message.account, message.watching);
        break;
      case "limit":
        void limiterHub?.handle(worker, message);
        break;
      case "metrics":
        metrics.answer(message.id, message.metrics);
        break;
    }
  };

  let restartDelay = 100;
  const fork = () => {
    const worker = cluster.fork();
    const born = Date.now();
    worker.on("message", (m) => onMessage(worker, m));
    worker.on("exit", (code, signal) => {
      listening.delete(worker.id);
      bus?.workerGone(worker.id);
      void limiterHub?.workerGone(worker.id);
      if (stopping) return;
      if (!everyoneListened) {
        firstFailure?.(new Error(`worker ${worker.id} exited during start (code ${code}, signal ${signal})`));
        return;
      }
      const lived = Date.now() - born;
      restartDelay = lived >= HEALTHY_LIFETIME_MS ? 100 : Math.min(restartDelay * 2, MAX_RESTART_DELAY_MS);
      log.error({ worker: worker.id, code, signal, restartInMs: restartDelay }, "worker died; replacing it");
      setTimeout(() => {
        if (!stopping) fork();
      }, restartDelay).unref();
    });
  };
  for (let i = 0; i < config.workers; i++) fork();

  try {
    await allListening;
  } catch (err) {
    stopping = true;
    for (const w of live()) w.process.kill("SIGKILL");
    await runtime.close();
    throw err;
  }
  everyoneListened = true;
  const endpoints = [...listening.values()][0] ?? [];
  console.log(await banner(runtime, http.port, endpoints, config.workers));

  shutdownOnSignals({
    log,
    ops,
    runtime,
    describe: () => ({ workers: live().length }),
    drain: async () => {
      stopping = true; // no more restarts of exiting workers
      const exited = live().map(
        (w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once("exit", () => resolve()))),
      );
      const drain: ToWorker = { ag: "drain", graceMs: DRAIN_GRACE_MS };
      for (const w of live()) if (w.isConnected()) w.send(drain);
      const killer = setTimeout(() => {
        for (const w of live()) if (!w.isDead()) w.process.kill("SIGKILL");
      }, DRAIN_GRACE_MS + EXIT_SLACK_MS);
      await Promise.all(exited);
      clearTimeout(killer);
    },
  });
}
