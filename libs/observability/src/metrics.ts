/**
 * One prom-client registry per process. Names follow Prometheus conventions:
 * `aerogram_` prefix, base units in the name (_seconds, _bytes), _total for
 * counters; labels never carry a user, address or mailbox (cardinality).
 */
import { collectDefaultMetrics, Registry } from "prom-client";

export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: "aerogram_" });
  return registry;
}

export { Counter, Gauge, Histogram, Registry } from "prom-client";
