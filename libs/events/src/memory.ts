/**
 * The in-process bus: the embedded default for a single process, and the twin
 * the NATS bus is tested against. Delivery is asynchronous, like a real bus, so
 * code that works here does not come to depend on handlers running inside publish().
 */
import { assertAccount, toMailboxEvent } from "./codec.ts";
import { HandlerRegistry } from "./handlers.ts";
import { type EventBusStats, emptyStats, type MeteredEventBus } from "./stats.ts";
import type { BusState, EventHandler, MailboxEvent, Subscription } from "./types.ts";

export interface MemoryEventBusOptions {
  /** Receives exceptions thrown by handlers (they are also counted in stats.handlerErrors). */
  onError?: (error: unknown) => void;
}

export class MemoryEventBus implements MeteredEventBus {
  readonly stats: EventBusStats = emptyStats();
  readonly #handlers = new HandlerRegistry();
  readonly #onError: ((error: unknown) => void) | undefined;
  #closed = false;

  constructor(options: MemoryEventBusOptions = {}) {
    this.#onError = options.onError;
  }

  get state(): BusState {
    return "connected";
  }

  get subscribedAccounts(): number {
    return this.#handlers.size;
  }

  publish(event: MailboxEvent): void {
    // A copy, as over the wire: later changes by the publisher do not leak into handlers.
    const copy = this.#closed ? undefined : toMailboxEvent(event);
    if (!copy) {
      this.stats.dropped++;
      return;
    }
    this.stats.published++;
    // Never re-entrantly: the publisher may hold state its handlers also touch.
    setImmediate(() => {
      if (this.#closed || !this.#handlers.has(copy.account)) return;
      this.stats.received++;
      this.#handlers.dispatch(copy, (error) => {
        this.stats.handlerErrors++;
        this.#onError?.(error);
      });
    });
  }

  subscribe(account: number, handler: EventHandler): Subscription {
    assertAccount(account);
    const { remove } = this.#handlers.add(account, handler);
    return { unsubscribe: () => void remove() };
  }

  onStateChange(_listener: (state: BusState) => void): Subscription {
    // Always connected: there is never a change to report.
    return { unsubscribe() {} };
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new Error("event bus is closed");
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
  }
}
