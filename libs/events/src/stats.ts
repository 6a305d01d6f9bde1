import type { EventBus } from "./types.ts";

/** Monotonic counters for metrics (export them as Prometheus counters). */
export interface EventBusStats {
  /** Events handed to the transport. */
  published: number;
  /** Events received for subscribed accounts (once per event, however many local handlers). */
  received: number;
  /** Events publish() could not send: invalid, bus closed, or NATS disconnected. */
  dropped: number;
  /** Incoming payloads ignored because they were not valid events. */
  malformed: number;
  /** Exceptions thrown by handlers (caught so one handler cannot starve the others). */
  handlerErrors: number;
}

export function emptyStats(): EventBusStats {
  return { published: 0, received: 0, dropped: 0, malformed: 0, handlerErrors: 0 };
}

/** What both implementations offer beyond EventBus, for metrics and /readyz details. */
export interface MeteredEventBus extends EventBus {
  readonly stats: Readonly<EventBusStats>;
  /** Accounts with at least one local handler (= upstream subscriptions held). */
  readonly subscribedAccounts: number;
}
