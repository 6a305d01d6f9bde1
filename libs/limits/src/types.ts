/**
 * Cluster-wide limits and locks. The Redis implementation is shared by every
 * replica; the in-memory twin gives the same behaviour inside one process
 * (the embedded default) and passes the same tests.
 */

export interface TokenBucketResult {
  allowed: boolean;
  /** Tokens left after this take (floored). */
  remaining: number;
  /** When not allowed: milliseconds until `cost` tokens are available. */
  retryAfterMs: number;
}

export interface Lease {
  key: string;
  /** Strictly increasing per key across all holders: a fencing token (pass it to writes guarded by the lock). */
  fencingToken: number;
  /**
   * The largest handover any earlier holder left at release (0 when none, or
   * after HANDOVER_TTL_MS): e.g. the version of the last write made under the
   * lock, so a new holder can tell whether what it read before the lock was
   * granted already includes that write.
   */
  handover: number;
  /** Extends the lease by its ttl; false when it was lost (expired and taken, or released). */
  renew(): Promise<boolean>;
  /**
   * Releases it if still ours; idempotent. A `handover` (a positive integer)
   * is left for later holders even when the lease was lost meanwhile: what
   * this holder wrote must not be missed by the next one. The largest one
   * left is kept.
   */
  release(handover?: number): Promise<void>;
}

/**
 * How long a handover outlives its release. A new holder compares it with
 * state it read at most a command timeout before its acquire returned, so a
 * day is far more than needed, and keys of idle locks still go away.
 */
export const HANDOVER_TTL_MS = 24 * 60 * 60_000;

/** What Limiter.acquireUnlessBlocked found and took. */
export interface GatedAcquire {
  /** The `counters` asked for, in order (0 when absent). */
  counters: number[];
  /** The `blocks` asked for, in order (0 when absent). */
  blocks: number[];
  /** The lease; undefined when a block was above 0 (nothing was taken) or someone else holds it. */
  lease: Lease | undefined;
}

/** One of at most `limit` concurrent holders of a key (a connection, a session); see Limiter.holdSlot. */
export interface Slot {
  /** Gives the slot back; idempotent. */
  release(): Promise<void>;
}

/**
 * A concurrency slot together with one token taken from a bucket in the same
 * round trip (Limiter.holdSlotAndTake): SMTP-in's connection slot and the
 * token of the session's first message.
 */
export interface SlotWithToken {
  /** The first token: taken, or refused with when it would be available. */
  token: TokenBucketResult;
  /**
   * Gives the slot back; with `refund` (only when the token was taken and
   * never used) the token goes back into the bucket in the same round trip,
   * so a connection that sends no message costs the rate nothing. Idempotent:
   * only the first call counts.
   */
  release(refund: boolean): Promise<void>;
}

export interface Limiter {
  /**
   * Token bucket: `capacity` tokens, refilled at `refillPerSecond`; takes `cost`
   * (default 1). State expires when the bucket would be full again.
   */
  take(key: string, capacity: number, refillPerSecond: number, cost?: number): Promise<TokenBucketResult>;
  /** Adds `by` (may be negative) to a counter that expires `ttlMs` after its last change; returns the new value. */
  incr(key: string, by: number, ttlMs: number): Promise<number>;
  /** Current counter value (0 when absent). */
  get(key: string): Promise<number>;
  /** Several counters' values in one round trip (Redis MGET), in the order asked; 0 when absent. */
  getMany(keys: readonly string[]): Promise<number[]>;
  /** Deletes a counter or bucket. */
  reset(key: string): Promise<void>;
  /**
   * Counts one concurrent holder of `key` (e.g. a connection from an IP, a
   * session of an account): a Slot while fewer than `limit` are held across
   * the cluster, else undefined. Release it when the holder ends. A process
   * that dies without releasing stops counting by itself: on Redis each slot is
   * a lease that this process's one heartbeat renews (RedisLimiterOptions
   * slotLeaseMs); in memory the slots die with the process.
   */
  holdSlot(key: string, limit: number): Promise<Slot | undefined>;
  /**
   * holdSlot(slotKey, limit) and, only when that slot is granted,
   * take(bucketKey, capacity, refillPerSecond, 1), atomically and in one round
   * trip; undefined (and no token taken) when the slot is refused. Optional:
   * a limiter without it is used through holdSlot and take.
   */
  holdSlotAndTake?(
    slotKey: string,
    limit: number,
    bucketKey: string,
    capacity: number,
    refillPerSecond: number,
  ): Promise<SlotWithToken | undefined>;
  /**
   * Gives `tokens` back to a token bucket (never above `capacity`; nothing
   * when the bucket is full): tokens taken ahead with take(…, cost) and not
   * spent. Optional, as holdSlotAndTake.
   */
  refund?(key: string, capacity: number, refillPerSecond: number, tokens: number): Promise<void>;
  /** A lease lock held for `ttlMs` unless renewed; undefined when someone else holds it. */
  acquire(key: string, ttlMs: number): Promise<Lease | undefined>;
  /**
   * Reads `counters` and `blocks` (as getMany) and, unless a block is above
   * 0, takes the lease (as acquire), in one atomic step: on Redis one script,
   * one round trip (a POP3 login's block check and maildrop lock). Optional:
   * call it through the function acquireUnlessBlocked(), which falls back to
   * getMany and acquire for a limiter without it.
   */
  acquireUnlessBlocked?(
    key: string,
    ttlMs: number,
    counters: readonly string[],
    blocks: readonly string[],
  ): Promise<GatedAcquire>;
  /** Liveness probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Limiter.acquireUnlessBlocked, or for a limiter without it (the cluster
 * workers' IPC one) getMany and then acquire: the same answer, not atomic
 * (a block set in between is seen by the next attempt).
 */
export async function acquireUnlessBlocked(
  limiter: Limiter,
  key: string,
  ttlMs: number,
  counters: readonly string[],
  blocks: readonly string[],
): Promise<GatedAcquire> {
  if (limiter.acquireUnlessBlocked) return limiter.acquireUnlessBlocked(key, ttlMs, counters, blocks);
  const values = await limiter.getMany([...counters, ...blocks]);
  const found = { counters: values.slice(0, counters.length), blocks: values.slice(counters.length) };
  if (found.blocks.some((v) => v > 0)) return { ...found, lease: undefined };
  return { ...found, lease: await limiter.acquire(key, ttlMs) };
}
