/**
 * Per-account send limits, cluster-wide in the shared limiter (Redis across
 * replicas): messages per hour and recipients per day as token buckets, and
 * recipients per message at RCPT. A compromised password then sends a
 * bounded amount of spam. With the limiter down mail goes through (logged),
 * as SMTP-in does: an outage of Redis must not stop all mail.
 *
 * Every take is a round trip (Redis, or the cluster primary under npm
 * start), and the bench showed two per message as one of submission's
 * largest costs. So a process reserves a few tokens ahead (a 50th of the
 * bucket, at most 20; none for small buckets) and spends them locally for
 * RESERVE_MS. The cost: an account may be refused up to (processes ×
 * reserve) tokens early, never allowed more than the bucket holds. A take
 * refused with the reserve is retried for exactly what is needed, so the
 * last tokens of a bucket are still usable.
 */
import type { Limiter } from "@aerogram/limits";
import type { Logger } from "@aerogram/observability";

export interface SendLimitOptions {
  messagesPerHour: number;
  recipientsPerMessage: number;
  recipientsPerDay: number;
}

export type SendVerdict =
  | { ok: true }
  | { ok: false; limit: "messages_per_hour" | "recipients_per_day"; retryAfterMs: number };

/** How long reserved tokens stay usable in this process. */
export const RESERVE_MS = 30_000;

/** Tokens taken ahead per round trip: a 50th of the bucket, at most 20. */
export function reserveFor(capacity: number): number {
  return Math.min(20, Math.floor(capacity / 50));
}

export class SendLimits {
  private readonly reserved = new Map<string, { tokens: number; until: number }>();
  /** Round trips to the limiter (tests, bench). */
  calls = 0;

  constructor(
    private readonly limiter: Limiter,
    readonly opts: SendLimitOptions,
    private readonly log: Logger,
  ) {}

  /** Charges one message with `recipients` recipients to the account, or says which limit it hit. */
  async charge(accountId: number, recipients: number): Promise<SendVerdict> {
    try {
      const hour = await this.take(
        `send:msg:${accountId}`,
        this.opts.messagesPerHour,
        this.opts.messagesPerHour / 3600,
        1,
      );
      if (!hour.allowed) return { ok: false, limit: "messages_per_hour", retryAfterMs: hour.retryAfterMs };
      const day = await this.take(
        `send:rcpt:${accountId}`,
        this.opts.recipientsPerDay,
        this.opts.recipientsPerDay / 86_400,
        recipients,
      );
      if (!day.allowed) return { ok: false, limit: "recipients_per_day", retryAfterMs: day.retryAfterMs };
      return { ok: true };
    } catch (err) {
      this.log.warn({ err, accountId }, "send limits unavailable; letting the message through");
      return { ok: true };
    }
  }

  private async take(
    key: string,
    capacity: number,
    refillPerSecond: number,
    cost: number,
  ): Promise<{ allowed: boolean; retryAfterMs: number }> {
    const now = Date.now();
    const local = this.reserved.get(key);
    if (local && local.until > now && local.tokens >= cost) {
      local.tokens -= cost;
      return { allowed: true, retryAfterMs: 0 };
    }
    const extra = reserveFor(capacity);
    if (extra > 0) {
      this.calls++;
      const ahead = await this.limiter.take(key, capacity, refillPerSecond, cost + extra);
      if (ahead.allowed) {
        if (this.reserved.size > 10_000) this.reserved.clear();
        this.reserved.set(key, { tokens: extra, until: now + RESERVE_MS });
        return { allowed: true, retryAfterMs: 0 };
      }
    }
    this.calls++;
    return this.limiter.take(key, capacity, refillPerSecond, cost);
  }
}
