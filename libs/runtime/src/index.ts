/**
 * Builds the shared platform a service runs on from the configuration: the
 * metadata store, the blob store, the event bus and the limiter, each either
 * the real server (when its variable is set) or the embedded default, plus the
 * logger, the metrics registry and the readiness checks over all of them.
 * Services receive a Runtime and never look at configuration kinds.
 */
import { type BlobStore, createBlobStore, withReadCache } from "@aerogram/blobstore";
import type { Config } from "@aerogram/config";
import { connectOrStartEmbedded, type EmbeddedPostgres, startEmbeddedPostgres } from "@aerogram/embedded-pg";
import { createEventBus, type EventBus, type MeteredEventBus } from "@aerogram/events";
import { createLimiter, type Limiter } from "@aerogram/limits";
import { closeSharedTlsCertificates } from "@aerogram/net";
import {
  createLogger,
  createRegistry,
  type Logger,
  type ReadinessCheck,
  type Registry,
} from "@aerogram/observability";
import { Store } from "@aerogram/store";
import { postgresQueryTimer, registerEventBusMetrics, withBlobMetrics } from "./platform-metrics.ts";

export interface Runtime {
  config: Config;
  log: Logger;
  metrics: Registry;
  store: Store;
  blobs: BlobStore;
  events: EventBus;
  limits: Limiter;
  /** The embedded database, when DATABASE_URL is unset. */
  embeddedPostgres: EmbeddedPostgres | undefined;
  readinessChecks: ReadinessCheck[];
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Label for logs and metrics. */
  service: string;
  /**
   * With the embedded database: "own" opens the data directory in this process
   * (npm start); "shared" connects to the process already serving it, or opens
   * it if none does (mailctl and other one-shot tools).
   */
  embedded?: "own" | "shared";
  log?: Logger;
  /**
   * The embedded database another process of this instance already serves
   * (a cluster worker connects to its primary's PGlite); used instead of
   * opening it when DATABASE_URL is unset.
   */
  embeddedUrl?: string;
  /** Used instead of the in-process bus (a cluster worker reaches its primary's bus over IPC). */
  events?: MeteredEventBus;
  /** Used instead of the in-memory limiter (a cluster worker reaches its primary's over IPC). */
  limits?: Limiter;
}

export async function createRuntime(config: Config, opts: RuntimeOptions): Promise<Runtime> {
  const log = opts.log ?? createLogger({ level: config.logLevel, service: opts.service });
  const metrics = createRegistry(opts.service);
  // Closed last (closers run in reverse): the TLS certificates' reload timer, if a service started it.
  const closers: (() => Promise<void>)[] = [async () => closeSharedTlsCertificates(config)];
  const close = async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn({ err }, "error while closing");
      }
    }
  };
  try {
    let embeddedPostgres: EmbeddedPostgres | undefined;
    let databaseUrl = config.database.url;
    if (!databaseUrl && opts.embeddedUrl) {
      databaseUrl = opts.embeddedUrl;
    } else if (!databaseUrl) {
      const where = {
        dir: config.database.embeddedDir,
        port: config.database.embeddedPort,
        idleOwnerMs: config.database.embeddedStallMs,
        warn: (message: string) => log.warn({ component: "embedded-pg" }, message),
      };
      embeddedPostgres =
        opts.embedded === "shared" ? await connectOrStartEmbedded(where) : await startEmbeddedPostgres(where);
      closers.push(() => embeddedPostgres!.stop());
      databaseUrl = embeddedPostgres.url;
    }
    const store = await Store.open({
      url: databaseUrl,
      poolMax: config.database.poolMax,
      preparedStatements: config.database.preparedStatements,
      applicationName: `aerogram-${opts.service}`,
      onPoolError: (err) => log.warn({ err }, "postgres connection lost; the pool reconnects"),
      onQuery: postgresQueryTimer(metrics),
    });
    closers.push(() => store.close());

    // The cache sits outside the metrics: blob-store latency and counts stay the backend's.
    const blobs = withReadCache(
      withBlobMetrics(createBlobStore(config.blobs), metrics),
      config.blobCacheBytes,
    );
    closers.push(() => blobs.close());

    const events =
      opts.events ??
      (await createEventBus(config.events, {
        onError: (err) => log.warn({ err }, "event bus error"),
      }));
    closers.push(() => events.close());
    events.onStateChange((state) => log.warn({ state }, "event bus state changed"));
    registerEventBusMetrics(metrics, events);

    const limits =
      opts.limits ??
      (await createLimiter(config.limits, { onError: (err) => log.warn({ err }, "redis error") }));
    closers.push(() => limits.close());

    log.info(
      {
        database: embeddedPostgres ? `embedded PGlite (${config.database.embeddedDir})` : "postgres",
        blobs:
          config.blobs.kind === "s3" ? `s3 bucket ${config.blobs.bucket}` : `filesystem ${config.blobs.dir}`,
        events: config.events.kind,
        limits: config.limits.kind,
      },
      "runtime ready",
    );
    return {
      config,
      log,
      metrics,
      store,
      blobs,
      events,
      limits,
      embeddedPostgres,
      readinessChecks: [
        { name: "postgres", probe: () => store.ping() },
        { name: "blobstore", probe: () => blobs.ping() },
        { name: "events", probe: () => events.ping() },
        { name: "limits", probe: () => limits.ping() },
      ],
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A running protocol service (SMTP-in, IMAP, POP3), as the process supervisor sees it. */
export interface ServiceHandle {
  name: string;
  /** Where it listens, for the start banner (e.g. "imap 127.0.0.1:1143"). */
  endpoints: string[];
  /** Open client connections right now. */
  connections(): number;
  /**
   * Graceful drain: stop accepting, tell sessions in the protocol's own way
   * (IMAP BYE, SMTP 421 to new transactions, POP3 without applying deletes),
   * let running work finish within graceMs, then close what is left.
   */
  drain(graceMs: number): Promise<void>;
}

/** Starts one service on a runtime. */
export type ServiceStarter = (runtime: Runtime) => Promise<ServiceHandle>;
export * from "./platform-metrics.ts";
export * from "./tls.ts";
