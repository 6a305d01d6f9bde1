/**
 * Cluster-wide abuse limits on the limiter (Redis in production): concurrent
 * connections per client IP, and messages per minute per client IP and per
 * recipient account. A limiter outage fails open (logged): limits protect the
 * service, they must not take inbound mail down with them.
 */
import type { Limiter, TokenBucketResult } from "@aerogram/limits";
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

/**
 * A connection's place in the per-IP limit, and the token of its first
 * message taken with it (one Redis script at the greeting instead of one at
 * the greeting and one at MAIL FROM; the slot's release gives an unused token
 * back in the same call).
 */
export interface ConnectionHold {
  /** The first message's token: "taken" (MAIL FROM spends it without a round trip), "refused", or "none" (not taken with the slot). */
  firstToken: "taken" | "refused" | "none";
  /** Whether MAIL FROM has spent the first token. */
  spent: boolean;
  release(refund: boolean): Promise<void>;
}

/** Held when nothing was counted (limit off, or the limiter failed): nothing to give back. */
const uncounted = (): ConnectionHold => ({ firstToken: "none", spent: false, release: async () => {} });

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
   * Counts a new connection from `ip`: its hold, to release when the
   * connection closes, or undefined when the IP already has too many. The
   * slots of a process killed without closing its connections stop counting
   * within the limiter's slot lease (REDIS_SLOT_LEASE_MS), not after a TTL.
   * When both the connection and the per-IP message limits are on, the same
   * call takes the first message's token: a token is then spent when the
   * connection opens rather than at its MAIL FROM (the session's length
   * earlier), and given back when the connection closes without a message.
   */
  async connectionOpened(ip: string): Promise<ConnectionHold | undefined> {
    const { connectionsPerIp, messagesPerMinutePerIp: rate } = this.opts;
    if (connectionsPerIp === 0) return uncounted();
    const both = this.limiter.holdSlotAndTake?.bind(this.limiter);
    if (rate > 0 && both) {
      return this.guard(
        "connections",
        async () => {
          const held = await both(`smtp:conn:${ip}`, connectionsPerIp, `smtp:msg-ip:${ip}`, rate, rate / 60);
          if (!held) return undefined;
          const hold: ConnectionHold = {
            firstToken: held.token.allowed ? "taken" : "refused",
            spent: false,
            release: (refund) => held.release(refund),
          };
          return hold;
        },
        uncounted(),
      );
    }
    return this.guard(
      "connections",
      async () => {
        const slot = await this.limiter.holdSlot(`smtp:conn:${ip}`, connectionsPerIp);
        if (!slot) return undefined;
        const hold: ConnectionHold = { firstToken: "none", spent: false, release: () => slot.release() };
        return hold;
      },
      uncounted(),
    );
  }

  /** The connection closed: its slot goes, and its first message's token if no message came. */
  async connectionClosed(hold: ConnectionHold): Promise<void> {
    const refund = hold.firstToken === "taken" && !hold.spent;
    await this.guard("connections", () => hold.release(refund), undefined);
  }

  /**
   * One message from this IP; false when over the per-minute rate. The first
   * message of a connection spends the token taken with its slot; a token
   * refused then is asked for again (the bucket may have refilled since).
   */
  async messageFromIp(ip: string, hold?: ConnectionHold): Promise<boolean> {
    const rate = this.opts.messagesPerMinutePerIp;
    if (rate === 0) return true;
    if (hold && hold.firstToken === "taken" && !hold.spent) {
      hold.spent = true;
      return true;
    }
    if (hold) hold.spent = true;
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
