/**
 * The in-process limiter: the embedded default for a single process, and the
 * twin RedisLimiter is tested against (same contract suite). Every operation is
 * synchronous inside its promise, which makes it atomic here as a Lua script is
 * in Redis. The clock is monotonic (performance.now), so wall-clock steps
 * neither refill buckets nor expire leases early.
 */
import { performance } from "node:perf_hooks";
import { type BucketState, takeTokens } from "./bucket.ts";
import { newOwnerToken } from "./owner.ts";
import {
  type GatedAcquire,
  HANDOVER_TTL_MS,
  type Lease,
  type Limiter,
  type Slot,
  type SlotWithToken,
  type TokenBucketResult,
} from "./types.ts";
import {
  checkBucket,
  checkCounterStep,
  checkHandover,
  checkKey,
  checkSlotLimit,
  checkTtl,
} from "./validate.ts";

type Value =
  | { kind: "counter"; count: number; expiresAt: number }
  | { kind: "bucket"; bucket: BucketState; expiresAt: number };

interface HeldLease {
  owner: string;
  expiresAt: number;
}

export interface MemoryLimiterOptions {
  /** How often expired entries are swept (they are also dropped when next touched). Default 30 s. */
  sweepIntervalMs?: number;
}

export class MemoryLimiter implements Limiter {
  /** Counters and buckets share a namespace, as in Redis. */
  readonly #values = new Map<string, Value>();
  readonly #leases = new Map<string, HeldLease>();
  /** Never expire, so fencing tokens keep increasing across holders. */
  readonly #fences = new Map<string, number>();
  /** The largest handover left per lease key (Lease.release). */
  readonly #handovers = new Map<string, { value: number; expiresAt: number }>();
  /** Held slots per key. No leases: the slots of a process die with it. */
  readonly #slots = new Map<string, Set<Slot>>();
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;

  constructor(options: MemoryLimiterOptions = {}) {
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 30_000);
    // Housekeeping must not keep the process alive.
    this.#sweeper.unref();
  }

  async take(key: string, capacity: number, refillPerSecond: number, cost = 1): Promise<TokenBucketResult> {
    this.#checkOpen();
    checkKey(key);
    checkBucket(capacity, refillPerSecond, cost);
    const now = performance.now();
    const saved = this.#live(key, now);
    if (saved && saved.kind !== "bucket") throw wrongType(key, "a counter");
    const { result, state, fullInMs } = takeTokens(saved?.bucket, now, capacity, refillPerSecond, cost);
    // A full bucket is the same as no bucket: forget it, as Redis lets the key expire.
    if (fullInMs > 0) this.#values.set(key, { kind: "bucket", bucket: state, expiresAt: now + fullInMs });
    else this.#values.delete(key);
    return result;
  }

  async incr(key: string, by: number, ttlMs: number): Promise<number> {
    this.#checkOpen();
    checkKey(key);
    checkCounterStep(by);
    checkTtl(ttlMs);
    const now = performance.now();
    const saved = this.#live(key, now);
    if (saved && saved.kind !== "counter") throw wrongType(key, "a token bucket");
    const count = (saved?.count ?? 0) + by;
    this.#values.set(key, { kind: "counter", count, expiresAt: now + ttlMs });
    return count;
  }

  async get(key: string): Promise<number> {
    this.#checkOpen();
    checkKey(key);
    const saved = this.#live(key, performance.now());
    if (saved && saved.kind !== "counter") throw wrongType(key, "a token bucket");
    return saved?.count ?? 0;
  }

  async getMany(keys: readonly string[]): Promise<number[]> {
    return Promise.all(keys.map((key) => this.get(key)));
  }

  async reset(key: string): Promise<void> {
    this.#checkOpen();
    checkKey(key);
    this.#values.delete(key);
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    this.#checkOpen();
    checkKey(key);
    checkTtl(ttlMs);
    const now = performance.now();
    if (this.#heldLease(key, now)) return undefined;
    const owner = newOwnerToken();
    this.#leases.set(key, { owner, expiresAt: now + ttlMs });
    const fencingToken = (this.#fences.get(key) ?? 0) + 1;
    this.#fences.set(key, fencingToken);
    const left = this.#handovers.get(key);
    return {
      key,
      fencingToken,
      handover: left && left.expiresAt > now ? left.value : 0,
      renew: async () => {
        this.#checkOpen();
        const now = performance.now();
        const held = this.#heldLease(key, now);
        if (held?.owner !== owner) return false;
        held.expiresAt = now + ttlMs;
        return true;
      },
      release: async (handover = 0) => {
        this.#checkOpen();
        checkHandover(handover);
        const now = performance.now();
        const left = this.#handovers.get(key);
        if (handover > 0 && (!left || left.expiresAt <= now || handover > left.value)) {
          this.#handovers.set(key, { value: handover, expiresAt: now + HANDOVER_TTL_MS });
        }
        if (this.#heldLease(key, now)?.owner === owner) this.#leases.delete(key);
      },
    };
  }

  async acquireUnlessBlocked(
    key: string,
    ttlMs: number,
    counters: readonly string[],
    blocks: readonly string[],
  ): Promise<GatedAcquire> {
    // Synchronous from the reads to the acquire: atomic, as the Redis script.
    const read = (k: string) => {
      checkKey(k);
      const saved = this.#live(k, performance.now());
      if (saved && saved.kind !== "counter") throw wrongType(k, "a token bucket");
      return saved?.count ?? 0;
    };
    this.#checkOpen();
    const found = { counters: counters.map(read), blocks: blocks.map(read) };
    if (found.blocks.some((v) => v > 0)) return { ...found, lease: undefined };
    return { ...found, lease: await this.acquire(key, ttlMs) };
  }

  async holdSlot(key: string, limit: number): Promise<Slot | undefined> {
    this.#checkOpen();
    checkKey(key);
    checkSlotLimit(limit);
    let held = this.#slots.get(key);
    if ((held?.size ?? 0) >= limit) return undefined;
    if (!held) {
      held = new Set();
      this.#slots.set(key, held);
    }
    const holders = held;
    const slot: Slot = {
      release: async () => {
        if (holders.delete(slot) && holders.size === 0 && this.#slots.get(key) === holders)
          this.#slots.delete(key);
      },
    };
    holders.add(slot);
    return slot;
  }

  async holdSlotAndTake(
    slotKey: string,
    limit: number,
    bucketKey: string,
    capacity: number,
    refillPerSecond: number,
  ): Promise<SlotWithToken | undefined> {
    this.#checkOpen();
    checkKey(bucketKey);
    checkBucket(capacity, refillPerSecond, 1);
    // Each step is atomic; the token is taken only once the slot is granted, as in the Redis script.
    const slot = await this.holdSlot(slotKey, limit);
    if (!slot) return undefined;
    let token: TokenBucketResult;
    try {
      token = await this.take(bucketKey, capacity, refillPerSecond, 1);
    } catch (err) {
      await slot.release();
      throw err;
    }
    let released = false;
    return {
      token,
      release: async (refund) => {
        if (released) return;
        released = true;
        await slot.release();
        if (refund && token.allowed && !this.#closed) this.#refund(bucketKey, capacity, refillPerSecond, 1);
      },
    };
  }

  async refund(key: string, capacity: number, refillPerSecond: number, tokens: number): Promise<void> {
    this.#checkOpen();
    checkKey(key);
    checkBucket(capacity, refillPerSecond, tokens);
    this.#refund(key, capacity, refillPerSecond, tokens);
  }

  /** Tokens back into a bucket (refilled to now, at most capacity); nothing when it is already full. */
  #refund(key: string, capacity: number, refillPerSecond: number, tokens: number): void {
    const now = performance.now();
    const saved = this.#live(key, now);
    if (saved?.kind !== "bucket") return;
    // takeTokens with a negative cost adds; a bucket at or over capacity is full, so forgotten.
    const { state, fullInMs } = takeTokens(saved.bucket, now, capacity, refillPerSecond, -tokens);
    state.tokens = Math.min(capacity, state.tokens);
    if (fullInMs > 0) this.#values.set(key, { kind: "bucket", bucket: state, expiresAt: now + fullInMs });
    else this.#values.delete(key);
  }

  async ping(): Promise<void> {
    this.#checkOpen();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#values.clear();
    this.#leases.clear();
    this.#slots.clear();
  }

  /** The value at `key` unless it has expired (then it is dropped). */
  #live(key: string, now: number): Value | undefined {
    return unexpired(this.#values, key, now);
  }

  #heldLease(key: string, now: number): HeldLease | undefined {
    return unexpired(this.#leases, key, now);
  }

  #sweep(): void {
    const now = performance.now();
    for (const [key, value] of this.#values) if (value.expiresAt <= now) this.#values.delete(key);
    for (const [key, lease] of this.#leases) if (lease.expiresAt <= now) this.#leases.delete(key);
    for (const [key, left] of this.#handovers) if (left.expiresAt <= now) this.#handovers.delete(key);
  }

  #checkOpen(): void {
    // Like a closed Redis connection: callers must not mistake a shut-down limiter for an empty one.
    if (this.#closed) throw new Error("limiter is closed");
  }
}

/** Redis answers WRONGTYPE when one key is used as both a counter and a bucket; so do we. */
function wrongType(key: string, actual: string): Error {
  return new Error(`WRONGTYPE ${JSON.stringify(key)} holds ${actual}`);
}

/** The entry at `key` unless it has expired (then it is dropped). */
function unexpired<V extends { expiresAt: number }>(
  map: Map<string, V>,
  key: string,
  now: number,
): V | undefined {
  const entry = map.get(key);
  if (entry && entry.expiresAt <= now) {
    map.delete(key);
    return undefined;
  }
  return entry;
}
