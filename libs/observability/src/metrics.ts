/**
 * One prom-client registry per process. Names follow Prometheus conventions:
 * `aerogram_` prefix, base units in the name (_seconds, _bytes), _total for
 * counters; labels never carry a user, address or mailbox (cardinality).
 */
import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  Registry,
} from "prom-client";

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
  const gauge = sharedGauge(registry, {
    name: "aerogram_sessions",
    help: "Open client sessions by protocol (smtp, imap, pop3)",
    labelNames: ["protocol"],
  });
  return gauge.labels({ protocol });
}

/*
 * A registry's metric of a name, created on first use: several services share
 * a process and a registry (`npm start`), and a second instance of a service
 * (tests, benches) must count into the same metric, not fail on the name.
 */

export function sharedCounter<T extends string = string>(
  registry: Registry,
  config: Omit<CounterConfiguration<T>, "registers">,
): Counter<T> {
  return registered(registry, config.name, () => new Counter({ ...config, registers: [registry] }));
}

export function sharedHistogram<T extends string = string>(
  registry: Registry,
  config: Omit<HistogramConfiguration<T>, "registers">,
): Histogram<T> {
  return registered(registry, config.name, () => new Histogram({ ...config, registers: [registry] }));
}

export function sharedGauge<T extends string = string>(
  registry: Registry,
  config: Omit<GaugeConfiguration<T>, "registers">,
): Gauge<T> {
  return registered(registry, config.name, () => new Gauge({ ...config, registers: [registry] }));
}

function registered<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}
