/**
 * The in-process event bus, shared by the workers of one cluster (the embedded
 * default has no NATS). A worker's publish goes to the primary, which hands it
 * to its own handlers and to every worker, the publisher included, as NATS
 * would; each process dispatches to its local handlers. So an IDLE session in
 * one worker wakes up for a delivery another worker committed.
 */
import type { Worker } from "node:cluster";
import {
  type BusState,
  type EventBusStats,
  type EventHandler,
  type MailboxEvent,
  MemoryEventBus,
  type MeteredEventBus,
  type Subscription,
} from "@aerogram/events";
import type { ToPrimary, ToWorker } from "./messages.ts";

/** The primary's side: its own in-process bus plus the fan-out to the workers. */
export class HubEventBus implements MeteredEventBus {
  readonly #local: MemoryEventBus;
  readonly #workers: () => Iterable<Worker>;

  constructor(workers: () => Iterable<Worker>, onError?: (error: unknown) => void) {
    this.#local = new MemoryEventBus(onError ? { onError } : {});
    this.#workers = workers;
  }

  get stats(): Readonly<EventBusStats> {
    return this.#local.stats;
  }

  get subscribedAccounts(): number {
    return this.#local.subscribedAccounts;
  }

  get state(): BusState {
    return "connected";
  }

  publish(event: MailboxEvent): void {
    this.#local.publish(event);
    const message: ToWorker = { ag: "event", event };
    for (const worker of this.#workers()) {
      // A worker that is exiting cannot take it; it holds no sessions any more.
      if (worker.isConnected()) worker.send(message);
    }
  }

  subscribe(account: number, handler: EventHandler): Subscription {
    return this.#local.subscribe(account, handler);
  }

  onStateChange(listener: (state: BusState) => void): Subscription {
    return this.#local.onStateChange(listener);
  }

  ping(): Promise<void> {
    return this.#local.ping();
  }

  close(): Promise<void> {
    return this.#local.close();
  }
}

/** A worker's side: local handlers, publishing through the primary. */
export class WorkerEventBus implements MeteredEventBus {
  readonly #local: MemoryEventBus;
  #closed = false;

  constructor(onError?: (error: unknown) => void) {
    // The local bus does the dispatching (asynchronously, copies, handler errors counted).
    this.#local = new MemoryEventBus(onError ? { onError } : {});
  }

  get stats(): Readonly<EventBusStats> {
    return this.#local.stats;
  }

  get subscribedAccounts(): number {
    return this.#local.subscribedAccounts;
  }

  get state(): BusState {
    return process.connected && !this.#closed ? "connected" : "disconnected";
  }

  publish(event: MailboxEvent): void {
    if (this.#closed || !process.connected || !process.send) return;
    const message: ToPrimary = { ag: "event", event };
    process.send(message);
  }

  /** An event the primary fanned out. */
  deliver(event: MailboxEvent): void {
    // Dispatch only: republishing would send it back to the primary.
    if (!this.#closed) this.#local.publish(event);
  }

  subscribe(account: number, handler: EventHandler): Subscription {
    return this.#local.subscribe(account, handler);
  }

  onStateChange(listener: (state: BusState) => void): Subscription {
    return this.#local.onStateChange(listener);
  }

  async ping(): Promise<void> {
    if (this.state !== "connected") throw new Error("the cluster primary is gone");
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#local.close();
  }
}
