/**
 * One prom-client registry per process. Names follow Prometheus conventions:
 * `aerogram_` prefix, base units in the name (_seconds, _bytes), _total for
 * counters; labels never carry a user, address or mailbox (cardinality).
 */
import { collectDefaultMetrics, Gauge, Registry } from "prom-client";

export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: "aerogram_" });
  return registry;
}

export { Counter, Gauge, Histogram, Registry } from "prom-client";

export type SessionProtocol = "smtp" | "imap" | "pop3";

/**
 * The one `aerogram_sessions{protocol}` gauge of a registry (open client
 * connections). Several services share a process and a registry (`npm start`),
 * so it is created once and each gateway counts through its own label.
 */
export function sessionsGauge(registry: Registry, protocol: SessionProtocol): Gauge.Internal<"protocol"> {
  const existing = registry.getSingleMetric("aerogram_sessions") as Gauge<"protocol"> | undefined;
  const gauge =
    existing ??
    new Gauge({
      name: "aerogram_sessions",
      help: "Open client sessions by protocol (smtp, imap, pop3)",
      labelNames: ["protocol"],
      registers: [registry],
    });
  return gauge.labels({ protocol });
}
