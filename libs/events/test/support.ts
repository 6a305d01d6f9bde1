/** Small helpers shared by the event bus tests. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, connect as netConnect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { EventBus, MailboxEvent, Subscription } from "../src/index.ts";

export { sleep };

/** Long enough for an event that was going to arrive to have arrived, on a busy 2-core machine. */
export const SETTLE_MS = 150;

let nextAccount = 1000;
/** A fresh account id per test so late events of one test can never satisfy another. */
export function freshAccount(): number {
  return nextAccount++;
}

export function event(account: number, overrides: Partial<MailboxEvent> = {}): MailboxEvent {
  return { account, mailbox: 7, kind: "exists", modseq: "42", uids: [1, 2], ...overrides };
}

export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export interface Recorder {
  events: MailboxEvent[];
  subscription: Subscription;
  /** Resolves once at least `count` events arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
}

/** Subscribes and records what arrives. */
export function record(bus: EventBus, account: number): Recorder {
  const events: MailboxEvent[] = [];
  const subscription = bus.subscribe(account, (e) => events.push(e));
  return {
    events,
    subscription,
    waitFor: (count, timeoutMs) =>
      waitUntil(() => events.length >= count, `${count} event(s) for account ${account}`, timeoutMs),
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A private nats-server on `port`, so outage tests never disturb the shared one. */
export class PrivateNatsServer {
  #child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn("/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", String(this.port)], {
      stdio: "ignore",
    });
    this.#child = child;
    await waitUntil(() => child.exitCode === null, "nats-server to run", 100);
    const deadline = Date.now() + 5000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error("nats-server did not start listening");
      await sleep(20);
    }
  }

  /** Kills it abruptly, as a crash or a network cut would. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }
}
