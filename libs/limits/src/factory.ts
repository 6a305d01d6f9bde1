import type { Config } from "@aerogram/config";
import { MemoryLimiter } from "./memory.ts";
import { RedisLimiter } from "./redis.ts";
import type { Limiter } from "./types.ts";

export interface CreateLimiterOptions {
  /** Redis connection errors (calls report their own failures). */
  onError?: (error: unknown) => void;
}

/**
 * The limiter the configuration asks for: Redis when REDIS_URL is set, else
 * in-process. The memory limiter's keyPrefix is irrelevant (nothing is shared).
 */
export async function createLimiter(
  config: Config["limits"],
  options: CreateLimiterOptions = {},
): Promise<Limiter> {
  if (config.kind === "memory") return new MemoryLimiter();
  return RedisLimiter.connect({
    url: config.url,
    keyPrefix: config.keyPrefix,
    slotLeaseMs: config.slotLeaseMs,
    ...options,
  });
}
