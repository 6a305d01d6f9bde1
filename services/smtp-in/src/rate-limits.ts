/**
 * Cluster-wide abuse limits on the limiter (Redis in production): concurrent
 * connections per client IP, and messages per minute per client IP and per
 * recipient account. A limiter outage fails open (logged): limits protect the
 * service, they must not take inbound mail down with them.
 */
import type { Limiter, TokenBucketResult } from "@aerogram/limits";
import type { Logger } from "@aerogram/observability";

export interface RateLimitOptions {
  /** Concurrent connections from one IP (421 beyond). */
  connectionsPerIp: number;
  /** Messages (MAIL FROM) per minute from one IP (451 4.7.1 beyond). */
  messagesPerMinutePerIp: number;
  /** Messages per minute to one account (451 4.7.1 for that recipient beyond). */
  messagesPerMinutePerRecipient: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitOptions = {
  connectionsPerIp: 50,
  messagesPerMinutePerIp: 600,
  messagesPerMinutePerRecipient: 300,
};

/** What a failed limiter answers: not limited. */
const OPEN: TokenBucketResult = { allowed: true, remaining: 0, retryAfterMs: 0 };

/** A connection counter outlives a crashed process by at most this long. */
const CONNECTION_COUNTER_TTL_MS = 30 * 60_000;

export class RateLimits {
  constructor(
    private readonly limiter: Limiter,
    private readonly opts: RateLimitOptions,
    private readonly log: Logger,
  ) {}

  private async guard<T>(what: string, fn: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.log.warn({ err, what }, "limiter unavailable; not limiting");
      return fallback;
    }
  }

  /** Counts a new connection; false when the IP already has too many. Call connectionClosed for every true. */
  async connectionOpened(ip: string): Promise<boolean> {
    const n = await this.guard(
      "connections",
      () => this.limiter.incr(`smtp:conn:${ip}`, 1, CONNECTION_COUNTER_TTL_MS),
      0,
    );
    if (n > this.opts.connectionsPerIp) {
      await this.connectionClosed(ip);
      return false;
    }
    return true;
  }

  async connectionClosed(ip: string): Promise<void> {
    await this.guard(
      "connections",
      () => this.limiter.incr(`smtp:conn:${ip}`, -1, CONNECTION_COUNTER_TTL_MS),
      0,
    );
  }

  /** One message from this IP; false when over the per-minute rate. */
  async messageFromIp(ip: string): Promise<boolean> {
    const rate = this.opts.messagesPerMinutePerIp;
    const r = await this.guard(
      "ip rate",
      () => this.limiter.take(`smtp:msg-ip:${ip}`, rate, rate / 60),
      OPEN,
    );
    return r.allowed;
  }

  /** One message to this account; false when over the per-minute rate. */
  async messageToAccount(accountId: number): Promise<boolean> {
    const rate = this.opts.messagesPerMinutePerRecipient;
    const r = await this.guard(
      "recipient rate",
      () => this.limiter.take(`smtp:msg-rcpt:${accountId}`, rate, rate / 60),
      OPEN,
    );
    return r.allowed;
  }
}
