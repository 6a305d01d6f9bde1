/** Prometheus metrics of the gateway. No per-user labels (cardinality). */
import type { Counter, Gauge, Histogram, Registry } from "@aerogram/observability";
import { sessionsGauge, sharedCounter, sharedHistogram } from "@aerogram/observability";

export interface ImapMetrics {
  /** One command's result (ok, no, bad), by command name (UNKNOWN: unparsable). */
  command(name: string, result: string): void;
  /** A session's commands and bytes since its last report, by client family (client-family.ts: a bounded label). */
  client(family: string, commands: number, bytesIn: number, bytesOut: number): void;
  duration: Histogram<"command">;
  sessions: Gauge.Internal<"protocol">;
}

/**
 * Counter increments added up as plain numbers and handed to prom-client
 * when it collects (a scrape, `registry.metrics()`): per command a Map
 * lookup, where prom-client's inc() hashes and validates the labels at every
 * call (issue 17: four incs per command were most of prom-client's 1.5% of
 * the gateway's samples). The label sets are few and bounded, so entries stay.
 */
class PendingCounts<T extends string> {
  readonly #entries = new Map<string, { labels: Partial<Record<T, string>>; n: number }>();

  add(key: string, labels: () => Partial<Record<T, string>>, n: number): void {
    const entry = this.#entries.get(key);
    if (entry) entry.n += n;
    else this.#entries.set(key, { labels: labels(), n });
  }

  drainInto(counter: Counter<T>): void {
    for (const entry of this.#entries.values()) {
      if (entry.n === 0) continue;
      counter.inc(entry.labels, entry.n);
      entry.n = 0;
    }
  }
}

interface Pending {
  commands: PendingCounts<"command" | "result">;
  clientCommands: PendingCounts<"family">;
  clientBytes: PendingCounts<"family" | "direction">;
}

/** One set of pending counts per registry: gateways sharing a registry (tests, `npm start`) share its counters. */
const pendingByRegistry = new WeakMap<Registry, Pending>();

export function createImapMetrics(registry: Registry): ImapMetrics {
  let pending = pendingByRegistry.get(registry);
  if (!pending) {
    pending = {
      commands: new PendingCounts(),
      clientCommands: new PendingCounts(),
      clientBytes: new PendingCounts(),
    };
    pendingByRegistry.set(registry, pending);
  }
  const p = pending;
  sharedCounter(registry, {
    name: "aerogram_imap_commands_total",
    help: "IMAP commands by name and result (ok, no, bad)",
    labelNames: ["command", "result"],
    collect() {
      p.commands.drainInto(this);
    },
  });
  sharedCounter(registry, {
    name: "aerogram_imap_client_commands_total",
    help: "IMAP commands by client family (thunderbird, apple, outlook, android, ios, mutt, other)",
    labelNames: ["family"],
    collect() {
      p.clientCommands.drainInto(this);
    },
  });
  sharedCounter(registry, {
    name: "aerogram_imap_client_bytes_total",
    help: "IMAP bytes from (in) and to (out) clients, by client family",
    labelNames: ["family", "direction"],
    collect() {
      p.clientBytes.drainInto(this);
    },
  });
  return {
    command(name, result) {
      p.commands.add(`${name} ${result}`, () => ({ command: name, result }), 1);
    },
    client(family, commands, bytesIn, bytesOut) {
      if (commands > 0) p.clientCommands.add(family, () => ({ family }), commands);
      if (bytesIn > 0) p.clientBytes.add(`${family} in`, () => ({ family, direction: "in" }), bytesIn);
      if (bytesOut > 0) p.clientBytes.add(`${family} out`, () => ({ family, direction: "out" }), bytesOut);
    },
    duration: sharedHistogram(registry, {
      name: "aerogram_imap_command_duration_seconds",
      help: "IMAP command latency (IDLE excluded)",
      labelNames: ["command"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    }),
    sessions: sessionsGauge(registry, "imap"),
  };
}
