/**
 * The in-memory limiter, shared by the workers of one cluster (the embedded
 * default has no Redis): the primary holds the one MemoryLimiter and answers
 * each worker's calls over IPC, so a POP3 maildrop lock, a per-account session
 * limit or a login back-off holds across workers as it does across replicas
 * on Redis. Slots of a worker that dies are released (as a dead replica's
 * stop counting on Redis); its leases expire by their ttl, as on Redis.
 */
import type { Worker } from "node:cluster";
import type { Lease, Limiter, Slot, TokenBucketResult } from "@aerogram/limits";
import type { LeaseReply, LimiterOp, ToPrimary, ToWorker } from "./messages.ts";

/** The primary's side: runs workers' calls on its limiter and keeps their leases and slots. */
export class LimiterHub {
  readonly #limiter: Limiter;
  readonly #leases = new Map<number, { worker: number; lease: Lease }>();
  readonly #slots = new Map<number, { worker: number; slot: Slot }>();
  #nextHandle = 1;

  constructor(limiter: Limiter) {
    this.#limiter = limiter;
  }

  /** Answers one call from `worker`. */
  async handle(worker: Worker, call: Extract<ToPrimary, { ag: "limit" }>): Promise<void> {
    let reply: ToWorker;
    try {
      reply = {
        ag: "limit-reply",
        id: call.id,
        ok: true,
        value: await this.#run(worker.id, call.op, call.args),
      };
    } catch (err) {
      reply = { ag: "limit-reply", id: call.id, ok: false, error: (err as Error).message };
    }
    if (worker.isConnected()) worker.send(reply);
    else if (reply.ok) this.#forget(reply.value, worker.id);
  }

  /** A worker exited: its slots stop counting. */
  async workerGone(workerId: number): Promise<void> {
    for (const [handle, held] of this.#slots) {
      if (held.worker !== workerId) continue;
      this.#slots.delete(handle);
      await held.slot.release();
    }
    for (const [handle, held] of this.#leases) if (held.worker === workerId) this.#leases.delete(handle);
  }

  /** A lease or slot granted to a worker that went away before the answer reached it. */
  #forget(value: unknown, workerId: number): void {
    if (typeof value === "object" && value !== null && "handle" in value) void this.workerGone(workerId);
  }

  async #run(worker: number, op: LimiterOp, args: unknown[]): Promise<unknown> {
    const l = this.#limiter;
    // The worker side (WorkerLimiter) sends each operation its own arguments.
    const a = args as [never, never, never, never];
    switch (op) {
      case "take":
        return l.take(a[0], a[1], a[2], a[3]);
      case "incr":
        return l.incr(a[0], a[1], a[2]);
      case "get":
        return l.get(a[0]);
      case "getMany":
        return l.getMany(a[0]);
      case "reset":
        return l.reset(a[0]);
      case "ping":
        return l.ping();
      case "holdSlot": {
        const slot = await l.holdSlot(a[0], a[1]);
        if (!slot) return undefined;
        const handle = this.#nextHandle++;
        this.#slots.set(handle, { worker, slot });
        return { handle };
      }
      case "slot.release": {
        const held = this.#slots.get(a[0]);
        this.#slots.delete(a[0]);
        return held?.slot.release();
      }
      case "acquire": {
        const lease = await l.acquire(a[0], a[1]);
        if (!lease) return undefined;
        const handle = this.#nextHandle++;
        this.#leases.set(handle, { worker, lease });
        return {
          handle,
          key: lease.key,
          fencingToken: lease.fencingToken,
          handover: lease.handover,
        } satisfies LeaseReply;
      }
      case "lease.renew": {
        const held = this.#leases.get(a[0]);
        return held ? held.lease.renew() : false;
      }
      case "lease.release": {
        const held = this.#leases.get(a[0]);
        this.#leases.delete(a[0]);
        return held?.lease.release(a[1]);
      }
    }
  }
}

/** A worker's side: every call is a round trip to the primary. */
export class WorkerLimiter implements Limiter {
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #closed = false;

  /** A reply from the primary. */
  settle(reply: Extract<ToWorker, { ag: "limit-reply" }>): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(new Error(reply.error));
  }

  /** The primary is gone: nothing will answer. */
  failAll(): void {
    for (const p of this.#pending.values()) p.reject(new Error("the cluster primary is gone"));
    this.#pending.clear();
  }

  #call<T>(op: LimiterOp, ...args: unknown[]): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("limiter is closed"));
    if (!process.connected || !process.send) return Promise.reject(new Error("the cluster primary is gone"));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const message: ToPrimary = { ag: "limit", id, op, args };
      process.send!(message);
    });
  }

  take(key: string, capacity: number, refillPerSecond: number, cost?: number): Promise<TokenBucketResult> {
    return this.#call("take", key, capacity, refillPerSecond, cost);
  }

  incr(key: string, by: number, ttlMs: number): Promise<number> {
    return this.#call("incr", key, by, ttlMs);
  }

  get(key: string): Promise<number> {
    return this.#call("get", key);
  }

  getMany(keys: readonly string[]): Promise<number[]> {
    return this.#call("getMany", [...keys]);
  }

  reset(key: string): Promise<void> {
    return this.#call("reset", key);
  }

  async holdSlot(key: string, limit: number): Promise<Slot | undefined> {
    const granted = await this.#call<{ handle: number } | undefined>("holdSlot", key, limit);
    if (!granted) return undefined;
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        await this.#call("slot.release", granted.handle).catch(() => {});
      },
    };
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    const granted = await this.#call<LeaseReply | undefined>("acquire", key, ttlMs);
    if (!granted) return undefined;
    return {
      key: granted.key,
      fencingToken: granted.fencingToken,
      handover: granted.handover,
      renew: () => this.#call<boolean>("lease.renew", granted.handle),
      release: (handover?: number) => this.#call<void>("lease.release", granted.handle, handover),
    };
  }

  ping(): Promise<void> {
    return this.#call("ping");
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.failAll();
  }
}
