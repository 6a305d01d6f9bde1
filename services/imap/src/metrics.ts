/** Prometheus metrics of the gateway. No per-user labels (cardinality). */
import { Counter, type Gauge, Histogram, type Registry, sessionsGauge } from "@aerogram/observability";

export interface ImapMetrics {
  commands: Counter<"command" | "result">;
  /** Commands by client family (client-family.ts: a bounded label). */
  clientCommands: Counter<"family">;
  /** Bytes read from and written to clients, by family and direction (in, out). */
  clientBytes: Counter<"family" | "direction">;
  duration: Histogram<"command">;
  sessions: Gauge.Internal<"protocol">;
}

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createImapMetrics(registry: Registry): ImapMetrics {
  return {
    commands: reuse(
      registry,
      "aerogram_imap_commands_total",
      () =>
        new Counter({
          name: "aerogram_imap_commands_total",
          help: "IMAP commands by name and result (ok, no, bad)",
          labelNames: ["command", "result"],
          registers: [registry],
        }),
    ),
    duration: reuse(
      registry,
      "aerogram_imap_command_duration_seconds",
      () =>
        new Histogram({
          name: "aerogram_imap_command_duration_seconds",
          help: "IMAP command latency (IDLE excluded)",
          labelNames: ["command"],
          buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
          registers: [registry],
        }),
    ),
    clientCommands: reuse(
      registry,
      "aerogram_imap_client_commands_total",
      () =>
        new Counter({
          name: "aerogram_imap_client_commands_total",
          help: "IMAP commands by client family (thunderbird, apple, outlook, android, ios, mutt, other)",
          labelNames: ["family"],
          registers: [registry],
        }),
    ),
    clientBytes: reuse(
      registry,
      "aerogram_imap_client_bytes_total",
      () =>
        new Counter({
          name: "aerogram_imap_client_bytes_total",
          help: "IMAP bytes from (in) and to (out) clients, by client family",
          labelNames: ["family", "direction"],
          registers: [registry],
        }),
    ),
    sessions: sessionsGauge(registry, "imap"),
  };
}
