/**
 * Token bucket arithmetic. MemoryLimiter uses it directly; the Redis Lua script
 * (scripts.ts) is a line-by-line transcription, so keep the two in step.
 */
import type { TokenBucketResult } from "./types.ts";

export interface BucketState {
  /** Fractional tokens left at `updatedAt`. */
  tokens: number;
  /** Milliseconds on the limiter's clock. */
  updatedAt: number;
}

export interface BucketTake {
  result: TokenBucketResult;
  state: BucketState;
  /** Milliseconds until the bucket is full again; 0 means the state can be forgotten. */
  fullInMs: number;
}

/** `saved` undefined = a bucket nobody touched lately, i.e. full. */
export function takeTokens(
  saved: BucketState | undefined,
  now: number,
  capacity: number,
  refillPerSecond: number,
  cost: number,
): BucketTake {
  let tokens = capacity;
  let updatedAt = now;
  if (saved) {
    tokens = saved.tokens;
    updatedAt = saved.updatedAt;
    // A clock that steps back (failover to another Redis) refills nothing rather than draining.
    if (now > updatedAt) {
      tokens = Math.min(capacity, tokens + ((now - updatedAt) * refillPerSecond) / 1000);
      updatedAt = now;
    }
  }
  let allowed = false;
  let retryAfterMs = 0;
  if (tokens >= cost) {
    tokens -= cost;
    allowed = true;
  } else {
    retryAfterMs = Math.ceil(((cost - tokens) * 1000) / refillPerSecond);
  }
  return {
    result: { allowed, remaining: Math.floor(tokens), retryAfterMs },
    state: { tokens, updatedAt },
    fullInMs: Math.ceil(((capacity - tokens) * 1000) / refillPerSecond),
  };
}
