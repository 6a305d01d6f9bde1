/** Prometheus metrics of the gateway. No per-user labels (cardinality). */
import type { Counter, Gauge, Histogram, Registry } from "@aerogram/observability";
import { sessionsGauge, sharedCounter, sharedHistogram } from "@aerogram/observability";

export interface ImapMetrics {
  commands: Counter<"command" | "result">;
  /** Commands by client family (client-family.ts: a bounded label). */
  clientCommands: Counter<"family">;
  /** Bytes read from and written to clients, by family and direction (in, out). */
  clientBytes: Counter<"family" | "direction">;
  duration: Histogram<"command">;
  sessions: Gauge.Internal<"protocol">;
}

export function createImapMetrics(registry: Registry): ImapMetrics {
  return {
    commands: sharedCounter(registry, {
      name: "aerogram_imap_commands_total",
      help: "IMAP commands by name and result (ok, no, bad)",
      labelNames: ["command", "result"],
    }),
    duration: sharedHistogram(registry, {
      name: "aerogram_imap_command_duration_seconds",
      help: "IMAP command latency (IDLE excluded)",
      labelNames: ["command"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    }),
    clientCommands: sharedCounter(registry, {
      name: "aerogram_imap_client_commands_total",
      help: "IMAP commands by client family (thunderbird, apple, outlook, android, ios, mutt, other)",
      labelNames: ["family"],
    }),
    clientBytes: sharedCounter(registry, {
      name: "aerogram_imap_client_bytes_total",
      help: "IMAP bytes from (in) and to (out) clients, by client family",
      labelNames: ["family", "direction"],
    }),
    sessions: sessionsGauge(registry, "imap"),
  };
}
