/**
 * The cluster bus on NATS core (no JetStream: events are wake-up beacons, and
 * sessions fall back to polling Postgres whenever the bus is disconnected).
 *
 * The process never waits on NATS for long: connect() returns after a bounded
 * wait even when NATS is down, and the bus keeps connecting in the background.
 * We run that first-connection retry loop ourselves rather than using the
 * client's waitOnFirstConnect, because the client's loop cannot be cancelled and
 * would keep a closed bus (and the process) alive while NATS stays down.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  connect,
  type NatsConnection,
  type Subscription as NatsSubscription,
  type Status,
} from "@nats-io/transport-node";
import { assertAccount, decodeEvent, encodeEvent, toMailboxEvent } from "./codec.ts";
import { HandlerRegistry } from "./handlers.ts";
import { type EventBusStats, emptyStats, type MeteredEventBus } from "./stats.ts";
import { accountSubject, assertSubjectPrefix } from "./subjects.ts";
import { withTimeout } from "./timeout.ts";
import type { BusState, EventHandler, MailboxEvent, Subscription } from "./types.ts";

export interface NatsEventBusOptions {
  /** nats://host:port (a comma-separated list for a cluster). */
  url: string;
  /** Dot-separated tokens; subjects are `<prefix>.mbx.<accountId>`. */
  subjectPrefix: string;
  /** How long connect() waits for the first connection before returning a still-connecting bus. Default 5000. */
  firstConnectWaitMs?: number;
  /** Pause between connection attempts. Default 500. */
  reconnectTimeWaitMs?: number;
  /** ping() rejects when a round trip takes longer. Default 2000. */
  pingTimeoutMs?: number;
  /** Connection name shown in NATS monitoring. */
  name?: string;
  /** Connection failures, server errors and handler exceptions; the bus itself carries on. */
  onError?: (error: unknown) => void;
}

export class NatsEventBus implements MeteredEventBus {
  readonly stats: EventBusStats = emptyStats();
  readonly #options: Required<Omit<NatsEventBusOptions, "name" | "onError">> &
    Pick<NatsEventBusOptions, "name" | "onError">;
  readonly #handlers = new HandlerRegistry();
  readonly #upstream = new Map<number, NatsSubscription>();
  readonly #stateListeners = new Set<(state: BusState) => void>();
  /** Cancels the first-connection retry loop's pauses on close(). */
  readonly #abort = new AbortController();
  readonly #connecting: Promise<void>;
  #nc: NatsConnection | undefined;
  #statusLoop: Promise<void> | undefined;
  #state: BusState = "disconnected";
  #closed = false;

  /** Waits (bounded by firstConnectWaitMs) for the first connection; never rejects because NATS is down. */
  static async connect(options: NatsEventBusOptions): Promise<NatsEventBus> {
    const bus = new NatsEventBus(options);
    await bus.#untilConnected(bus.#options.firstConnectWaitMs);
    return bus;
  }

  /** Starts connecting in the background; the bus is usable (and "disconnected") right away. */
  constructor(options: NatsEventBusOptions) {
    assertSubjectPrefix(options.subjectPrefix);
    this.#options = {
      url: options.url,
      subjectPrefix: options.subjectPrefix,
      firstConnectWaitMs: options.firstConnectWaitMs ?? 5000,
      reconnectTimeWaitMs: options.reconnectTimeWaitMs ?? 500,
      pingTimeoutMs: options.pingTimeoutMs ?? 2000,
      name: options.name,
      onError: options.onError,
    };
    this.#connecting = this.#connectUntilUp();
  }

  get state(): BusState {
    return this.#state;
  }

  get subscribedAccounts(): number {
    return this.#handlers.size;
  }

  publish(event: MailboxEvent): void {
    const nc = this.#nc;
    const checked = toMailboxEvent(event);
    if (!checked || !nc || this.#closed) {
      this.stats.dropped++;
      return;
    }
    // The client discards its outbound buffer on every reconnect attempt, so an
    // event published now would be lost anyway; say so in the counter instead.
    if (this.#state === "disconnected") {
      this.stats.dropped++;
      return;
    }
    try {
      nc.publish(accountSubject(this.#options.subjectPrefix, checked.account), encodeEvent(checked));
      this.stats.published++;
    } catch (error) {
      // Closed or draining connection: the event is lost, which a beacon may be.
      this.stats.dropped++;
      this.#reportError(error);
    }
  }

  subscribe(account: number, handler: EventHandler): Subscription {
    assertAccount(account);
    if (this.#closed) return { unsubscribe() {} };
    const { first, remove } = this.#handlers.add(account, handler);
    if (first) this.#subscribeUpstream(account);
    return {
      unsubscribe: () => {
        if (remove().last) this.#unsubscribeUpstream(account);
      },
    };
  }

  onStateChange(listener: (state: BusState) => void): Subscription {
    this.#stateListeners.add(listener);
    return { unsubscribe: () => void this.#stateListeners.delete(listener) };
  }

  async ping(): Promise<void> {
    const nc = this.#nc;
    if (this.#closed) throw new Error("event bus is closed");
    if (!nc || this.#state === "disconnected") throw new Error("NATS is not connected");
    await withTimeout(nc.flush(), this.#options.pingTimeoutMs, "NATS ping timed out");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#stateListeners.clear();
    this.#handlers.clear();
    this.#upstream.clear();
    // A connection attempt in flight finishes on its own and closes what it got.
    await this.#connecting;
    const nc = this.#nc;
    if (nc && !nc.isClosed()) {
      if (this.#state === "connected") {
        // Drain sends what is still buffered; close anyway if the server stops answering.
        await withTimeout(nc.drain(), this.#options.pingTimeoutMs, "NATS drain timed out").catch(() =>
          nc.close(),
        );
      } else {
        await nc.close();
      }
    }
    await this.#statusLoop;
    this.#state = "disconnected";
  }

  async #connectUntilUp(): Promise<void> {
    while (!this.#closed) {
      try {
        const nc = await connect({
          servers: this.#options.url.split(","),
          ...(this.#options.name ? { name: this.#options.name } : {}),
          // Once connected, the client reconnects on its own, forever.
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.#options.reconnectTimeWaitMs,
          waitOnFirstConnect: false,
        });
        if (this.#closed) {
          await nc.close().catch(() => {});
          return;
        }
        this.#attach(nc);
        return;
      } catch (error) {
        this.#reportError(error);
        await sleep(this.#options.reconnectTimeWaitMs, undefined, { signal: this.#abort.signal }).catch(
          () => {},
        );
      }
    }
  }

  #attach(nc: NatsConnection): void {
    this.#nc = nc;
    this.#statusLoop = this.#watchStatus(nc.status());
    // Handlers registered while we were still connecting get their subscriptions now.
    for (const account of this.#handlers.accounts()) this.#subscribeUpstream(account);
    this.#setState("connected");
  }

  async #watchStatus(statuses: AsyncIterable<Status>): Promise<void> {
    try {
      for await (const status of statuses) {
        switch (status.type) {
          case "disconnect":
          case "close":
            this.#setState("disconnected");
            break;
          case "reconnect":
            // The client resends our subscriptions on its own.
            this.#setState("connected");
            break;
          case "error":
            this.#reportError(status.error);
            break;
        }
      }
    } catch (error) {
      this.#reportError(error);
    }
  }

  #subscribeUpstream(account: number): void {
    const nc = this.#nc;
    // Not connected yet: #attach subscribes every account that has handlers by then.
    if (!nc || this.#upstream.has(account)) return;
    try {
      const sub = nc.subscribe(accountSubject(this.#options.subjectPrefix, account), {
        callback: (error, msg) => {
          if (error) this.#reportError(error);
          else this.#deliver(account, msg.data);
        },
      });
      this.#upstream.set(account, sub);
    } catch (error) {
      this.#reportError(error);
    }
  }

  #unsubscribeUpstream(account: number): void {
    const sub = this.#upstream.get(account);
    this.#upstream.delete(account);
    try {
      sub?.unsubscribe();
    } catch (error) {
      this.#reportError(error);
    }
  }

  #deliver(account: number, payload: Uint8Array): void {
    const event = decodeEvent(payload);
    // Anyone with publish rights can put bytes on our subject: never trust them.
    if (!event || event.account !== account) {
      this.stats.malformed++;
      return;
    }
    this.stats.received++;
    this.#handlers.dispatch(event, (error) => {
      this.stats.handlerErrors++;
      this.#reportError(error);
    });
  }

  #setState(state: BusState): void {
    if (this.#state === state || this.#closed) return;
    this.#state = state;
    for (const listener of [...this.#stateListeners]) {
      try {
        listener(state);
      } catch (error) {
        this.#reportError(error);
      }
    }
  }

  /** Resolves once connected, after `ms`, or never later than close(). */
  #untilConnected(ms: number): Promise<void> {
    if (this.#state === "connected") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      const listener = this.onStateChange((state) => {
        if (state === "connected") done();
      });
      this.#abort.signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        listener.unsubscribe();
        resolve();
      }
    });
  }

  #reportError(error: unknown): void {
    try {
      this.#options.onError?.(error);
    } catch {
      // An error reporter that throws must not take the bus down with it.
    }
  }
}
