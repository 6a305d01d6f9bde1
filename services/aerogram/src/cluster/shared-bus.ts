/**
 * The in-process event bus, shared by the workers of one cluster (the embedded
 * default has no NATS). A worker's publish is dispatched to its own handlers
 * at once and goes to the primary, which hands it to its own handlers and to
 * the other workers that have a handler for the event's account, as NATS
 * routes a subject only to its subscribers. Each worker tells the primary when
 * it gains its first and loses its last handler of an account. So an IDLE
 * session in one worker wakes up for a delivery another worker committed, and
 * a write nobody else watches costs one IPC message (not one per worker, each
 * waking that worker's event loop for nothing).
 *
 * A subscription reaches the primary a moment after the worker's handler is in
 * place: an event in that moment is not forwarded, as an event published while
 * a NATS SUB is on its way is not. That is safe for the same reason: the change
 * log in PostgreSQL is the truth, and a session reads its state after it
 * subscribes.
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
  /** Worker id → the accounts it has handlers for. */
  readonly #watching = new Map<number, Set<number>>();

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

  /**
   * Dispatches to the primary's handlers and forwards to every worker watching
   * the event's account, except `from` (the worker that published it and has
   * dispatched it already).
   */
  publish(event: MailboxEvent, from?: number): void {
    this.#local.publish(event);
    const message: ToWorker = { ag: "event", event };
    for (const worker of this.#workers()) {
      if (worker.id === from || !this.#watching.get(worker.id)?.has(event.account)) continue;
      // A worker that is exiting cannot take it; it holds no sessions any more.
      if (worker.isConnected()) worker.send(message);
    }
  }

  /** A worker's first handler for `account` (true) or its last one gone (false). */
  watch(workerId: number, account: number, watching: boolean): void {
    const accounts = this.#watching.get(workerId) ?? new Set<number>();
    if (watching) accounts.add(account);
    else accounts.delete(account);
    this.#watching.set(workerId, accounts);
  }

  /** A worker exited: nothing is forwarded to it any more (a replacement starts with no handlers). */
  workerGone(workerId: number): void {
    this.#watching.delete(workerId);
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
  /** Account → this worker's handlers for it; the primary knows which accounts are above 0. */
  readonly #handlers = new Map<number, number>();
  readonly #toPrimary: (message: ToPrimary) => void;
  #closed = false;

  /** `toPrimary` is the IPC channel (process.send); a test passes its own. */
  constructor(onError?: (error: unknown) => void, toPrimary?: (message: ToPrimary) => void) {
    // The local bus does the dispatching (asynchronously, copies, handler errors counted).
    this.#local = new MemoryEventBus(onError ? { onError } : {});
    this.#toPrimary =
      toPrimary ??
      ((message) => {
        if (process.connected && process.send) process.send(message);
      });
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
    if (this.#closed) return;
    // This worker's own handlers at once (NATS, too, delivers to the publisher's subscriptions).
    this.#local.publish(event);
    this.#send({ ag: "event", event });
  }

  /** An event another process published, forwarded by the primary. */
  deliver(event: MailboxEvent): void {
    // Dispatch only: republishing would send it back to the primary.
    if (!this.#closed) this.#local.publish(event);
  }

  subscribe(account: number, handler: EventHandler): Subscription {
    const subscription = this.#local.subscribe(account, handler);
    const before = this.#handlers.get(account) ?? 0;
    this.#handlers.set(account, before + 1);
    if (before === 0) this.#send({ ag: "watch", account, watching: true });
    let active = true;
    return {
      unsubscribe: () => {
        if (!active) return;
        active = false;
        subscription.unsubscribe();
        const left = (this.#handlers.get(account) ?? 1) - 1;
        if (left > 0) {
          this.#handlers.set(account, left);
        } else {
          this.#handlers.delete(account);
          this.#send({ ag: "watch", account, watching: false });
        }
      },
    };
  }

  #send(message: ToPrimary): void {
    if (!this.#closed) this.#toPrimary(message);
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
