import type { Config } from "@aerogram/config";
import { MemoryEventBus } from "./memory.ts";
import { NatsEventBus } from "./nats.ts";
import type { MeteredEventBus } from "./stats.ts";

export interface CreateEventBusOptions {
  /** Connection failures, server errors and handler exceptions (the bus carries on). */
  onError?: (error: unknown) => void;
  /** Shown in NATS monitoring, e.g. the pod name. */
  name?: string;
}

/** The bus the configuration asks for: NATS when NATS_URL is set, else in-process. */
export async function createEventBus(
  config: Config["events"],
  options: CreateEventBusOptions = {},
): Promise<MeteredEventBus> {
  if (config.kind === "memory") {
    return new MemoryEventBus(options.onError ? { onError: options.onError } : {});
  }
  return NatsEventBus.connect({ url: config.url, subjectPrefix: config.subjectPrefix, ...options });
}
