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
 * Fencing counters never expire: Redis must not evict them (use noeviction or a
 * volatile-* maxmemory-policy), or tokens would start again from 1.
 */
import { Redis } from "ioredis";
import { type KeyLayout, keyLayout } from "./keys.ts";
import { newOwnerToken } from "./owner.ts";
import { ACQUIRE, INCR, RELEASE, RENEW, TAKE } from "./scripts.ts";
import type { Lease, Limiter, TokenBucketResult } from "./types.ts";
import { checkBucket, checkCounterStep, checkKey, checkTtl } from "./validate.ts";

const MAX_RETRIES = 2;

export interface RedisLimiterOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  url: string;
  /** Prepended to every key, e.g. "aerogram:". */
  keyPrefix: string;
  /** How long connect() waits for the first connection before returning a still-connecting limiter. Default 5000. */
  connectWaitMs?: number;
  /** Upper bound on one call, queued or sent. Default 2000. */
  commandTimeoutMs?: number;
  /** Connection errors (also while reconnecting); calls report their own failures. */
  onError?: (error: unknown) => void;
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
  limiterAcquire(lease: string, fence: string, owner: string, ttlMs: number): Promise<number>;
  limiterRenew(lease: string, owner: string, ttlMs: number): Promise<number>;
  limiterRelease(lease: string, owner: string): Promise<number>;
}

export class RedisLimiter implements Limiter {
  readonly #redis: Redis & ScriptCommands;
  readonly #keys: KeyLayout;

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
      connectTimeout: 2000,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      // Reconnect forever, backing off to one attempt every 2 s.
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    });
    // Without a listener ioredis prints every reconnect failure to the console.
    redis.on("error", (error) => options.onError?.(error));
    redis.defineCommand("limiterTake", { numberOfKeys: 1, lua: TAKE });
    redis.defineCommand("limiterIncr", { numberOfKeys: 1, lua: INCR });
    redis.defineCommand("limiterAcquire", { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand("limiterRenew", { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand("limiterRelease", { numberOfKeys: 1, lua: RELEASE });
    // defineCommand adds methods TypeScript cannot see; ScriptCommands declares them.
    this.#redis = redis as Redis & ScriptCommands;
    this.#keys = keyLayout(options.keyPrefix);
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
    const owner = newOwnerToken();
    const fencingToken = await this.#redis.limiterAcquire(leaseKey, this.#keys.fence(key), owner, ttlMs);
    if (fencingToken === 0) return undefined;
    return {
      key,
      fencingToken,
      renew: async () => (await this.#redis.limiterRenew(leaseKey, owner, ttlMs)) === 1,
      release: async () => {
        await this.#redis.limiterRelease(leaseKey, owner);
      },
    };
  }

  async ping(): Promise<void> {
    await this.#redis.ping();
  }

  async close(): Promise<void> {
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
