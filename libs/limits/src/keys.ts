/**
 * Key layout. Counters and buckets share one namespace (reset() deletes either);
 * leases, their fencing counters and concurrency slots get their own, so no user key can collide
 * with another kind of state.
 */
export interface KeyLayout {
  /** Counter or token bucket. */
  limit(key: string): string;
  /** Lease lock: holds the owner token, expires with the lease. */
  lease(key: string): string;
  /** Fencing counter of a lease: never expires, so tokens keep increasing. */
  fence(key: string): string;
  /** The largest handover left by a lease's holders (Lease.release), kept for HANDOVER_TTL_MS. */
  handover(key: string): string;
  /** Concurrency slots: a sorted set, member = process instance and slot number, score = lease expiry. */
  slots(key: string): string;
}

export function keyLayout(prefix: string): KeyLayout {
  return {
    limit: (key) => `${prefix}limit:${key}`,
    lease: (key) => `${prefix}lease:${key}`,
    fence: (key) => `${prefix}fence:${key}`,
    handover: (key) => `${prefix}handover:${key}`,
    slots: (key) => `${prefix}slots:${key}`,
  };
}
