export { type CreateLimiterOptions, createLimiter } from "./factory.ts";
export { MemoryLimiter, type MemoryLimiterOptions } from "./memory.ts";
export { DEFAULT_SLOT_LEASE_MS, RedisLimiter, type RedisLimiterOptions } from "./redis.ts";
export { TtlCache, type TtlCacheOptions } from "./ttl-cache.ts";
export * from "./types.ts";
