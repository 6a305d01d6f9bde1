/**
 * aerogram_pop3_* metrics. Several POP3 services may share one registry (tests
 * run two in a process), so each metric is created once per registry and reused.
 * Labels are bounded: command names come from the parser's fixed list.
 */
import type { Counter, Gauge, Histogram, Registry } from "@aerogram/observability";
import { sessionsGauge, sharedCounter, sharedHistogram } from "@aerogram/observability";

export interface Pop3Metrics {
  /** aerogram_sessions{protocol="pop3"} */
  sessions: Gauge.Internal<"protocol">;
  bytesSent: Counter;
  /** Logins whose snapshot, read alongside the lock request, had to be read again (see Maildrop.open). */
  snapshotRereads: Counter;
  /** Counts a command's result (aerogram_pop3_commands_total). */
  countCommand(command: string, ok: boolean): void;
  /** Records a command's duration (aerogram_pop3_command_duration_seconds). */
  observeDuration(command: string, seconds: number): void;
}

export function pop3Metrics(registry: Registry): Pop3Metrics {
  const commands = sharedCounter(registry, {
    name: "aerogram_pop3_commands_total",
    help: "POP3 commands by name and result (ok, err)",
    labelNames: ["command", "result"],
  });
  const commandDuration = sharedHistogram(registry, {
    name: "aerogram_pop3_command_duration_seconds",
    help: "Time from reading a POP3 command to the end of its response",
    labelNames: ["command"],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  });
  // A command's children, looked up once: prom-client hashes a labels object on every call otherwise.
  const succeeded = new Map<string, Counter.Internal>();
  const failed = new Map<string, Counter.Internal>();
  const timed = new Map<string, Histogram.Internal<"command">>();
  return {
    sessions: sessionsGauge(registry, "pop3"),
    countCommand(command, ok) {
      const children = ok ? succeeded : failed;
      let child = children.get(command);
      if (!child) {
        child = commands.labels({ command, result: ok ? "ok" : "err" });
        children.set(command, child);
      }
      child.inc();
    },
    observeDuration(command, seconds) {
      let child = timed.get(command);
      if (!child) {
        child = commandDuration.labels({ command });
        timed.set(command, child);
      }
      child.observe(seconds);
    },
    bytesSent: sharedCounter(registry, {
      name: "aerogram_pop3_bytes_sent_total",
      help: "Octets written to POP3 clients",
    }),
    snapshotRereads: sharedCounter(registry, {
      name: "aerogram_pop3_snapshot_rereads_total",
      help: "POP3 logins that read their snapshot again because the previous session committed meanwhile",
    }),
  };
}
