/**
 * Prometheus metrics of the shared platform every service runs on: the event
 * bus (from its own counters, read at scrape time), Postgres query latency and
 * blob-store operation latency. Names follow libs/observability's conventions.
 */
import type { BlobStore } from "@aerogram/blobstore";
import type { EventBusStats, MeteredEventBus } from "@aerogram/events";
import { Counter, Gauge, Histogram, type Registry } from "@aerogram/observability";

/** Buckets for dependency latency: 0.5 ms (a PG primary-key read) to 10 s (a large S3 put). */
const DEPENDENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** Event-bus counters and state, collected from the bus's stats when Prometheus scrapes. */
export function registerEventBusMetrics(registry: Registry, bus: MeteredEventBus): void {
  // The bus counts monotonically; each scrape exposes its current value.
  const from = (field: keyof EventBusStats) =>
    function (this: Counter) {
      this.reset();
      this.inc(bus.stats[field]);
    };
  new Counter({
    name: "aerogram_events_published_total",
    help: "Mailbox events handed to the bus",
    registers: [registry],
    collect: from("published"),
  });
  new Counter({
    name: "aerogram_events_received_total",
    help: "Mailbox events received for subscribed accounts (once per event and replica)",
    registers: [registry],
    collect: from("received"),
  });
  new Counter({
    name: "aerogram_events_dropped_total",
    help: "Mailbox events that could not be published (bus disconnected or closed)",
    registers: [registry],
    collect: from("dropped"),
  });
  new Counter({
    name: "aerogram_events_malformed_total",
    help: "Incoming payloads ignored because they were not valid events",
    registers: [registry],
    collect: from("malformed"),
  });
  new Counter({
    name: "aerogram_events_handler_errors_total",
    help: "Exceptions thrown by event handlers",
    registers: [registry],
    collect: from("handlerErrors"),
  });
  new Gauge({
    name: "aerogram_events_bus_connected",
    help: "1 while the event bus is connected, 0 while sessions fall back to polling",
    registers: [registry],
    collect() {
      this.set(bus.state === "connected" ? 1 : 0);
    },
  });
  new Gauge({
    name: "aerogram_events_subscribed_accounts",
    help: "Accounts this process holds an event subscription for",
    registers: [registry],
    collect() {
      this.set(bus.subscribedAccounts);
    },
  });
}

/** A histogram of Postgres query durations; pass `observe` as the store's onQuery hook. */
export function postgresQueryTimer(registry: Registry): (seconds: number, ok: boolean) => void {
  const histogram = new Histogram({
    name: "aerogram_pg_query_duration_seconds",
    help: "Postgres query round trips, by outcome",
    labelNames: ["result"],
    buckets: DEPENDENCY_BUCKETS,
    registers: [registry],
  });
  return (seconds, ok) => histogram.observe({ result: ok ? "ok" : "error" }, seconds);
}

type TimedOp = "put" | "get" | "get_range" | "read" | "stat" | "delete";

/**
 * The blob store with every operation timed into
 * aerogram_blob_operation_duration_seconds{op,result}. For get/getRange the
 * time is until the stream is ready (first byte), not until it is consumed.
 */
export function withBlobMetrics(blobs: BlobStore, registry: Registry): BlobStore {
  const histogram = new Histogram({
    name: "aerogram_blob_operation_duration_seconds",
    help: "Blob store operations (S3 or filesystem), by operation and outcome",
    labelNames: ["op", "result"],
    buckets: DEPENDENCY_BUCKETS,
    registers: [registry],
  });
  const timed = async <T>(op: TimedOp, work: () => Promise<T>): Promise<T> => {
    const end = histogram.startTimer({ op });
    try {
      const result = await work();
      end({ result: "ok" });
      return result;
    } catch (err) {
      end({ result: "error" });
      throw err;
    }
  };
  return {
    put: (content) => timed("put", () => blobs.put(content)),
    putBuffer: (content) => timed("put", () => blobs.putBuffer(content)),
    get: (key) => timed("get", () => blobs.get(key)),
    getRange: (key, offset, length) => timed("get_range", () => blobs.getRange(key, offset, length)),
    read: (key, offset, length) => timed("read", () => blobs.read(key, offset, length)),
    stat: (key) => timed("stat", () => blobs.stat(key)),
    delete: (key) => timed("delete", () => blobs.delete(key)),
    list: (opts) => blobs.list(opts),
    ping: () => blobs.ping(),
    close: () => blobs.close(),
  };
}
