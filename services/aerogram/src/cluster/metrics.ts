/**
 * /metrics of a cluster: the primary asks every worker for its registry over
 * IPC and serves the sum (prom-client's AggregatorRegistry: counters and
 * histograms add up, gauges such as aerogram_sessions add up, process
 * start times keep one value), so one scrape of the pod sees the whole
 * pod. A worker that does not answer within a second is left out of that
 * scrape rather than failing it.
 */
import type { Worker } from "node:cluster";
import { AggregatorRegistry, Registry } from "prom-client";
import type { MetricsJson, ToWorker } from "./messages.ts";

const WORKER_ANSWER_MS = 1000;

export class ClusterRegistry extends Registry {
  readonly #own: Registry;
  readonly #workers: () => Worker[];
  readonly #pending = new Map<number, (metrics: MetricsJson) => void>();
  #nextId = 1;

  constructor(own: Registry, workers: () => Worker[]) {
    super();
    this.#own = own;
    this.#workers = workers;
  }

  /** A worker's answer to a metrics request. */
  answer(id: number, metrics: MetricsJson): void {
    this.#pending.get(id)?.(metrics);
  }

  override async metrics(): Promise<string> {
    const all = await Promise.all([
      this.#own.getMetricsAsJSON(),
      ...this.#workers().map((w) => this.#ask(w)),
    ]);
    return AggregatorRegistry.aggregate(all.filter((m): m is MetricsJson => m !== undefined)).metrics();
  }

  #ask(worker: Worker): Promise<MetricsJson | undefined> {
    if (!worker.isConnected()) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(undefined);
      }, WORKER_ANSWER_MS);
      this.#pending.set(id, (metrics) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(metrics);
      });
      const request: ToWorker = { ag: "metrics-request", id };
      worker.send(request);
    });
  }
}
