/**
 * The cluster limiter on Redis, shared by every replica.
 *
 * Outages: calls fail fast instead of hanging, so callers can answer with a
 * temporary error (SMTP 4xx, IMAP NO [UNAVAILABLE]). A call made while
 * disconnected waits in ioredis' offline queue, so a blip shorter than the
 * command timeout goes unnoticed; it is rejected after MAX_RETRIES failed
 * reconnect attempts or the command timeout, whichever comes first. ioredis
 * keeps reconnecting forever in the background. (A rejected call may still run
 * after the reconnect: at worst a token taken or a lease held until its ttl.)
 *
 * Concurrency slots (holdSlot) are leases too: one sorted set per key, one
 * member per held slot named by this limiter's random instance id, scored
 * with its expiry. One heartbeat per limiter (per process) renews every slot
 * it holds each slotLeaseMs / 3; every holdSlot drops expired members before
 * counting. So the slots of a process killed without releasing them stop
 * counting within slotLeaseMs, whatever other holders of the key stay alive,
 * and a release lost to an outage heals the same way. This replaces a plain
 * counter with a TTL, which a killed process left counting for the whole TTL
 * (and which any surviving holder kept renewing).
 *
 * Fencing counters never expire: Redis must not evict them (use noeviction or a
 * volatile-* maxmemory-policy), or tokens would start again from 1.
 */
import { Redis } from "ioredis";
import { type KeyLayout, keyLayout } from "./keys.ts";
import { newOwnerToken } from "./owner.ts";
import {
  ACQUIRE,
  ACQUIRE_UNLESS_BLOCKED,
  HOLD_SLOT,
  HOLD_SLOT_AND_TAKE,
  INCR,
  REFRESH_SLOTS,
  REFUND,
  RELEASE,
  RELEASE_SLOT_AND_REFUND,
  RENEW,
  TAKE,
} from "./scripts.ts";
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

const MAX_RETRIES = 2;

export const DEFAULT_SLOT_LEASE_MS = 30_000;

/** Members per heartbeat script call (Lua's unpack has a stack limit). */
const REFRESH_BATCH = 500;

export interface RedisLimiterOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  url: string;
  /** Prepended to every key, e.g. "aerogram:". */
  keyPrefix: string;
  /** How long connect() waits for the first connection before returning a still-connecting limiter. Default 5000. */
  connectWaitMs?: number;
  /** Upper bound on one call, queued or sent. Default 2000. */
  commandTimeoutMs?: number;
  /**
   * How long a held slot (holdSlot) outlives a process that stops renewing it
   * (killed, or cut off from Redis); renewed every third of it. Default 30 s:
   * two missed renewals (each bounded by the command timeout) before a live
   * slot lapses, and a killed replica's clients are let in again after 30 s.
   */
  slotLeaseMs?: number;
  /** Connection errors (also while reconnecting) and failed slot renewals; calls report their own failures. */
  onError?: (error: unknown) => void;
  /**
   * Default true: commands issued in one turn of the event loop go out in one
   * write, but a batch waits until the previous one is answered (ioredis keeps
   * one auto-pipeline in flight per connection). False: every command is
   * written at once (one write each) and answered in order, never waiting
   * behind another batch; for a connection that carries latency-sensitive
   * calls only (the POP3 maildrop lock).
   */
  autoPipelining?: boolean;
}

/** The scripts as commands: ioredis sends EVALSHA and falls back to EVAL once per connection. */
interface ScriptCommands {
  limiterTake(
    bucket: string,
    capacity: number,
    refillPerSecond: number,
    cost: number,
  ): Promise<[number, number, number]>;
  limiterIncr(counter: string, by: number, ttlMs: number): Promise<number>;
  limiterAcquire(
    lease: string,
    fence: string,
    handover: string,
    owner: string,
    ttlMs: number,
  ): Promise<[number, number]>;
  /** numberOfKeys, then lease, fence, handover, counters and blocks, then owner, ttlMs, counters.length. */
  limiterAcquireUnlessBlocked(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
  limiterRenew(lease: string, owner: string, ttlMs: number): Promise<number>;
  limiterRelease(
    lease: string,
    handover: string,
    owner: string,
    value: number,
    handoverTtlMs: number,
  ): Promise<number>;
  limiterHoldSlot(slots: string, limit: number, member: string, leaseMs: number): Promise<number>;
  limiterRefreshSlots(slots: string, leaseMs: number, ...members: string[]): Promise<number>;
  limiterHoldSlotAndTake(
    slots: string,
    bucket: string,
    limit: number,
    member: string,
    leaseMs: number,
    capacity: number,
    refillPerSecond: number,
  ): Promise<[number, number, number, number]>;
  limiterRefund(bucket: string, tokens: number, capacity: number, refillPerSecond: number): Promise<number>;
  limiterReleaseSlotAndRefund(
    slots: string,
    bucket: string,
    member: string,
    refund: number,
    capacity: number,
    refillPerSecond: number,
  ): Promise<number>;
}

export class RedisLimiter implements Limiter {
  readonly #redis: Redis & ScriptCommands;
  readonly #keys: KeyLayout;
  readonly #slotLeaseMs: number;
  /** Names this process's slot members, so they never collide with another replica's. */
  readonly #instance = newOwnerToken();
  #nextSlot = 0;
  /** Slots this limiter holds: Redis key → members, renewed by the heartbeat. */
  readonly #heldSlots = new Map<string, Set<string>>();
  readonly #heartbeat: NodeJS.Timeout;
  #renewing = false;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #options: RedisLimiterOptions;

  /** Waits (bounded by connectWaitMs) for the first connection; never rejects because Redis is down. */
  static async connect(options: RedisLimiterOptions): Promise<RedisLimiter> {
    const limiter = new RedisLimiter(options);
    await limiter.#untilReady(options.connectWaitMs ?? 5000);
    return limiter;
  }

  /** Starts connecting in the background; calls made before the connection is up wait in the offline queue. */
  constructor(options: RedisLimiterOptions) {
    const redis = new Redis(options.url, {
      maxRetriesPerRequest: MAX_RETRIES,
      enableOfflineQueue: true,
      // Commands issued in the same turn of the event loop (a login's block
      // check and lock request, a logout's releases, many sessions' at once)
      // go out in one write: per command, a socket write was the gateway's
      // largest cost after the client's own replies.
      enableAutoPipelining: options.autoPipelining ?? true,
      connectTimeout: 2000,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      // Reconnect forever, backing off to one attempt every 2 s.
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    });
    // Without a listener ioredis prints every reconnect failure to the console.
    redis.on("error", (error) => options.onError?.(error));
    redis.defineCommand("limiterTake", { numberOfKeys: 1, lua: TAKE });
    redis.defineCommand("limiterIncr", { numberOfKeys: 1, lua: INCR });
    redis.defineCommand("limiterAcquire", { numberOfKeys: 3, lua: ACQUIRE });
    redis.defineCommand("limiterRenew", { numberOfKeys: 1, lua: RENEW });
    // Its number of keys varies: the first argument says how many.
    redis.defineCommand("limiterAcquireUnlessBlocked", { lua: ACQUIRE_UNLESS_BLOCKED });
    redis.defineCommand("limiterRelease", { numberOfKeys: 2, lua: RELEASE });
    redis.defineCommand("limiterHoldSlot", { numberOfKeys: 1, lua: HOLD_SLOT });
    redis.defineCommand("limiterRefreshSlots", { numberOfKeys: 1, lua: REFRESH_SLOTS });
    redis.defineCommand("limiterHoldSlotAndTake", { numberOfKeys: 2, lua: HOLD_SLOT_AND_TAKE });
    redis.defineCommand("limiterReleaseSlotAndRefund", { numberOfKeys: 2, lua: RELEASE_SLOT_AND_REFUND });
    redis.defineCommand("limiterRefund", { numberOfKeys: 1, lua: REFUND });
    // defineCommand adds methods TypeScript cannot see; ScriptCommands declares them.
    this.#redis = redis as Redis & ScriptCommands;
    this.#keys = keyLayout(options.keyPrefix);
    this.#onError = options.onError;
    this.#options = options;
    this.#slotLeaseMs = options.slotLeaseMs ?? DEFAULT_SLOT_LEASE_MS;
    checkTtl(this.#slotLeaseMs);
    this.#heartbeat = setInterval(
      () => void this.#renewSlots(),
      Math.max(1, Math.floor(this.#slotLeaseMs / 3)),
    );
    this.#heartbeat.unref();
  }

  /**
   * Another limiter on the same Redis and keys with a connection of its own,
   * e.g. `{ autoPipelining: false }` for calls that must not wait behind
   * other traffic's batches (the POP3 maildrop lock). Connects in the
   * background (calls wait in the offline queue meanwhile); close it on its own.
   */
  withOwnConnection(overrides: Pick<RedisLimiterOptions, "autoPipelining"> = {}): RedisLimiter {
    return new RedisLimiter({ ...this.#options, ...overrides });
  }

  async take(key: string, capacity: number, refillPerSecond: number, cost = 1): Promise<TokenBucketResult> {
    checkKey(key);
    checkBucket(capacity, refillPerSecond, cost);
    const [allowed, remaining, retryAfterMs] = await this.#redis.limiterTake(
      this.#keys.limit(key),
      capacity,
      refillPerSecond,
      cost,
    );
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }

  async refund(key: string, capacity: number, refillPerSecond: number, tokens: number): Promise<void> {
    checkKey(key);
    checkBucket(capacity, refillPerSecond, tokens);
    if (tokens === 0) return;
    await this.#redis.limiterRefund(this.#keys.limit(key), tokens, capacity, refillPerSecond);
  }

  async incr(key: string, by: number, ttlMs: number): Promise<number> {
    checkKey(key);
    checkCounterStep(by);
    checkTtl(ttlMs);
    return this.#redis.limiterIncr(this.#keys.limit(key), by, ttlMs);
  }

  async get(key: string): Promise<number> {
    checkKey(key);
    const value = await this.#redis.get(this.#keys.limit(key));
    return value === null ? 0 : Number(value);
  }

  async getMany(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    for (const key of keys) checkKey(key);
    const values = await this.#redis.mget(keys.map((key) => this.#keys.limit(key)));
    return values.map((value) => (value === null ? 0 : Number(value)));
  }

  async reset(key: string): Promise<void> {
    checkKey(key);
    await this.#redis.del(this.#keys.limit(key));
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    checkKey(key);
    checkTtl(ttlMs);
    const leaseKey = this.#keys.lease(key);
    const handoverKey = this.#keys.handover(key);
    const owner = newOwnerToken();
    const [fencingToken, handover] = await this.#redis.limiterAcquire(
      leaseKey,
      this.#keys.fence(key),
      handoverKey,
      owner,
      ttlMs,
    );
    if (fencingToken === 0) return undefined;
    return {
      key,
      fencingToken,
      handover,
      renew: async () => (await this.#redis.limiterRenew(leaseKey, owner, ttlMs)) === 1,
      release: async (value = 0) => {
        checkHandover(value);
        await this.#redis.limiterRelease(leaseKey, handoverKey, owner, value, HANDOVER_TTL_MS);
      },
    };
  }

  async acquireUnlessBlocked(
    key: string,
    ttlMs: number,
    counters: readonly string[],
    blocks: readonly string[],
  ): Promise<GatedAcquire> {
    checkKey(key);
    checkTtl(ttlMs);
    for (const k of counters) checkKey(k);
    for (const k of blocks) checkKey(k);
    const leaseKey = this.#keys.lease(key);
    const handoverKey = this.#keys.handover(key);
    const owner = newOwnerToken();
    const gates = [...counters, ...blocks].map((k) => this.#keys.limit(k));
    const [fencingToken, handover, ...values] = await this.#redis.limiterAcquireUnlessBlocked(
      3 + gates.length,
      leaseKey,
      this.#keys.fence(key),
      handoverKey,
      ...gates,
      owner,
      ttlMs,
      counters.length,
    );
    const found = {
      counters: values.slice(0, counters.length).map(Number),
      blocks: values.slice(counters.length).map(Number),
    };
    if (!fencingToken) return { ...found, lease: undefined };
    return {
      ...found,
      lease: {
        key,
        fencingToken,
        handover: handover ?? 0,
        renew: async () => (await this.#redis.limiterRenew(leaseKey, owner, ttlMs)) === 1,
        release: async (value = 0) => {
          checkHandover(value);
          await this.#redis.limiterRelease(leaseKey, handoverKey, owner, value, HANDOVER_TTL_MS);
        },
      },
    };
  }

  async holdSlot(key: string, limit: number): Promise<Slot | undefined> {
    checkKey(key);
    checkSlotLimit(limit);
    const slotsKey = this.#keys.slots(key);
    const member = `${this.#instance}:${this.#nextSlot++}`;
    // If this call fails after Redis ran it, the member is never renewed and lapses within the lease.
    const added = await this.#redis.limiterHoldSlot(slotsKey, limit, member, this.#slotLeaseMs);
    if (added !== 1) return undefined;
    const forget = this.#trackSlot(slotsKey, member);
    return {
      release: async () => {
        if (!forget()) return;
        // Sent after any heartbeat that still listed the member (one connection keeps the order).
        await this.#redis.zrem(slotsKey, member);
      },
    };
  }

  async holdSlotAndTake(
    slotKey: string,
    limit: number,
    bucketKey: string,
    capacity: number,
    refillPerSecond: number,
  ): Promise<SlotWithToken | undefined> {
    checkKey(slotKey);
    checkSlotLimit(limit);
    checkKey(bucketKey);
    checkBucket(capacity, refillPerSecond, 1);
    const slotsKey = this.#keys.slots(slotKey);
    const bucket = this.#keys.limit(bucketKey);
    const member = `${this.#instance}:${this.#nextSlot++}`;
    // As holdSlot: a member added by a call that failed here lapses within the lease.
    const [added, allowed, remaining, retryAfterMs] = await this.#redis.limiterHoldSlotAndTake(
      slotsKey,
      bucket,
      limit,
      member,
      this.#slotLeaseMs,
      capacity,
      refillPerSecond,
    );
    if (added !== 1) return undefined;
    const forget = this.#trackSlot(slotsKey, member);
    return {
      token: { allowed: allowed === 1, remaining, retryAfterMs },
      release: async (refund) => {
        if (!forget()) return;
        const back = refund && allowed === 1 ? 1 : 0;
        await this.#redis.limiterReleaseSlotAndRefund(
          slotsKey,
          bucket,
          member,
          back,
          capacity,
          refillPerSecond,
        );
      },
    };
  }

  /** Lists a held slot for the heartbeat; the returned function unlists it (true the first time only). */
  #trackSlot(slotsKey: string, member: string): () => boolean {
    let members = this.#heldSlots.get(slotsKey);
    if (!members) {
      members = new Set();
      this.#heldSlots.set(slotsKey, members);
    }
    const held = members;
    held.add(member);
    return () => {
      if (!held.delete(member)) return false;
      if (held.size === 0 && this.#heldSlots.get(slotsKey) === held) this.#heldSlots.delete(slotsKey);
      return true;
    };
  }

  /** The heartbeat: renews every slot this process holds (one script call per key and batch). */
  async #renewSlots(): Promise<void> {
    if (this.#renewing || this.#heldSlots.size === 0) return;
    this.#renewing = true;
    try {
      const calls: Promise<number>[] = [];
      for (const [slotsKey, members] of this.#heldSlots) {
        const list = [...members];
        for (let i = 0; i < list.length; i += REFRESH_BATCH) {
          calls.push(
            this.#redis.limiterRefreshSlots(slotsKey, this.#slotLeaseMs, ...list.slice(i, i + REFRESH_BATCH)),
          );
        }
      }
      const failed = (await Promise.allSettled(calls)).find((r) => r.status === "rejected");
      // The next beat tries again; a slot lapses only after a whole lease without one.
      if (failed) this.#onError?.(failed.reason);
    } finally {
      this.#renewing = false;
    }
  }

  async ping(): Promise<void> {
    await this.#redis.ping();
  }

  /** Stops the heartbeat: slots still held lapse within slotLeaseMs (release them first to free them now). */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    if (this.#redis.status === "end") return;
    if (this.#redis.status === "ready") {
      // QUIT lets replies to commands already sent arrive; disconnect if it fails.
      await this.#redis.quit().catch(() => this.#redis.disconnect());
    } else {
      // Not connected: nothing to flush, and QUIT would only wait in the offline queue.
      this.#redis.disconnect();
    }
  }

  /** Resolves on "ready" or after `ms`, whichever is first (connection errors in between just mean retrying). */
  #untilReady(ms: number): Promise<void> {
    const redis = this.#redis;
    if (redis.status === "ready") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      redis.once("ready", done);
      function done() {
        clearTimeout(timer);
        redis.off("ready", done);
        resolve();
      }
    });
  }
}
