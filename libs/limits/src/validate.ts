/**
 * Argument checks shared by both limiters. Bad arguments are programming
 * errors: they throw at once (a RangeError) instead of reaching Redis, where
 * they would fail differently or, worse, be coerced.
 */

export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) throw new RangeError("key must be a non-empty string");
}

export function checkBucket(capacity: number, refillPerSecond: number, cost: number): void {
  if (!(Number.isFinite(capacity) && capacity > 0))
    throw new RangeError("capacity must be a positive number");
  if (!(Number.isFinite(refillPerSecond) && refillPerSecond > 0)) {
    throw new RangeError("refillPerSecond must be a positive number");
  }
  // A cost above capacity could never be allowed: no retryAfterMs would be true.
  if (!(Number.isFinite(cost) && cost >= 0 && cost <= capacity)) {
    throw new RangeError("cost must be a number from 0 to capacity");
  }
}

export function checkCounterStep(by: number): void {
  if (!Number.isSafeInteger(by)) throw new RangeError("by must be an integer");
}

export function checkTtl(ttlMs: number): void {
  if (!(Number.isSafeInteger(ttlMs) && ttlMs >= 1)) throw new RangeError("ttlMs must be a whole number ≥ 1");
}

export function checkSlotLimit(limit: number): void {
  if (!(Number.isSafeInteger(limit) && limit >= 1)) throw new RangeError("limit must be a whole number ≥ 1");
}

export function checkHandover(value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0))
    throw new RangeError("handover must be a whole number ≥ 0");
}
