export { type CreateLimiterOptions, createLimiter } from "./factory.ts";
export { MemoryLimiter, type MemoryLimiterOptions } from "./memory.ts";
export { DEFAULT_SLOT_LEASE_MS, RedisLimiter, type RedisLimiterOptions } from "./redis.ts";
export * from "./types.ts";
