/**
 * Cluster-wide abuse limits on the limiter (Redis in production): concurrent
 * connections per client IP, and messages per minute per client IP and per
 * recipient account. A limiter outage fails open (logged): limits protect the
 * service, they must not take inbound mail down with them.
 */
import type { Limiter, Slot, TokenBucketResult } from "@aerogram/limits";
import type { Logger } from "@aerogram/observability";

/** From SMTP_MAX_CONNECTIONS_PER_IP, SMTP_MESSAGES_PER_MINUTE_PER_IP/_RECIPIENT; 0 = no limit. */
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

/** Held when the limiter failed: nothing was counted, nothing to give back. */
const UNCOUNTED: Slot = { release: async () => {} };

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

  /**
   * Counts a new connection from `ip`: its slot, to release when the
   * connection closes, or undefined when the IP already has too many. The
   * slots of a process killed without closing its connections stop counting
   * within the limiter's slot lease (REDIS_SLOT_LEASE_MS), not after a TTL.
   */
  async connectionOpened(ip: string): Promise<Slot | undefined> {
    if (this.opts.connectionsPerIp === 0) return UNCOUNTED;
    return this.guard(
      "connections",
      () => this.limiter.holdSlot(`smtp:conn:${ip}`, this.opts.connectionsPerIp),
      UNCOUNTED,
    );
  }

  async connectionClosed(slot: Slot): Promise<void> {
    await this.guard("connections", () => slot.release(), undefined);
  }

  /** One message from this IP; false when over the per-minute rate. */
  async messageFromIp(ip: string): Promise<boolean> {
    const rate = this.opts.messagesPerMinutePerIp;
    if (rate === 0) return true;
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
    if (rate === 0) return true;
    const r = await this.guard(
      "recipient rate",
      () => this.limiter.take(`smtp:msg-rcpt:${accountId}`, rate, rate / 60),
      OPEN,
    );
    return r.allowed;
  }
}
