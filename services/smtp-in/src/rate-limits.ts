/**
 * Cluster-wide abuse limits on the limiter (Redis in production): concurrent
 * connections per client IP, and messages per minute per client IP and per
 * recipient account. A limiter outage fails open (logged): limits protect the
 * service, they must not take inbound mail down with them.
 */

import { performance } from "node:perf_hooks";
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
  /**
   * SMTP_RECIPIENT_BUDGET_MAX: the most tokens of one account's bucket this
   * process takes ahead (see RECIPIENT_BUDGET_MS); 0 or 1 = never ahead.
   */
  recipientBudgetMax?: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitOptions = {
  connectionsPerIp: 50,
  messagesPerMinutePerIp: 600,
  messagesPerMinutePerRecipient: 300,
  recipientBudgetMax: 16,
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

/**
 * How long tokens an account's budget took ahead may be spent in this
 * process; what is left then goes back to the bucket.
 */
export const RECIPIENT_BUDGET_MS = 1000;
/** The default largest budget (SMTP_RECIPIENT_BUDGET_MAX): at most this many tokens, and at most 5% of the bucket, taken ahead. */
export const RECIPIENT_BUDGET_MAX = 16;

/** Tokens of one account's bucket taken from the limiter ahead, spent locally. */
interface Budget {
  tokens: number;
  /** When the unspent tokens go back (performance.now()). */
  until: number;
  /** The size of the last take: the next one doubles it while the account stays this busy. */
  batch: number;
}

export class RateLimits {
  /** Per-recipient budgets (account id → tokens taken ahead); see messageToAccount. */
  readonly #budgets = new Map<number, Budget>();
  #sweeper: NodeJS.Timeout | undefined;

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

  /**
   * One message to this account; false when over the per-minute rate.
   *
   * An account receiving faster than one message per RECIPIENT_BUDGET_MS in
   * this process takes its tokens ahead: 2, then 4, up to
   * RECIPIENT_BUDGET_MAX and 5% of the bucket, in one limiter call, and
   * spends them here without a round trip for up to RECIPIENT_BUDGET_MS;
   * what is left then goes back to the bucket. Every accepted recipient
   * still spent a token the shared bucket granted, so no replica ever lets
   * more through than the limit; the tolerance is the other way: while one
   * replica holds unspent tokens (at most the budget, for at most the
   * period), the others may refuse that many earlier. A replica killed with a
   * budget loses its tokens (the bucket refills them at its rate). An account
   * that receives little never takes ahead: one call per message, as before.
   */
  async messageToAccount(accountId: number): Promise<boolean> {
    const rate = this.opts.messagesPerMinutePerRecipient;
    if (rate === 0) return true;
    const now = performance.now();
    const budget = this.#budgets.get(accountId);
    if (budget && budget.until > now && budget.tokens > 0) {
      budget.tokens--;
      return true;
    }
    const key = `smtp:msg-rcpt:${accountId}`;
    const most = Math.min(this.opts.recipientBudgetMax ?? RECIPIENT_BUDGET_MAX, Math.floor(rate / 20));
    // Busy: the last budget (or single token) was spent within the period.
    const busy = budget !== undefined && budget.until > now;
    const batch = this.limiter.refund && busy && most > 1 ? Math.min(most, budget.batch * 2) : 1;
    if (budget) this.#giveBack(accountId, budget);
    let r: TokenBucketResult;
    try {
      r = await this.limiter.take(key, rate, rate / 60, batch);
    } catch (err) {
      // Fail open, and keep no budget: its tokens were never taken.
      this.log.warn({ err, what: "recipient rate" }, "limiter unavailable; not limiting");
      return true;
    }
    if (!r.allowed && batch > 1) {
      // Not that many left: just this message's token.
      return this.messageToAccount(accountId);
    }
    if (!r.allowed) return false;
    // Another RCPT to the account may have taken a budget meanwhile: its tokens go back first.
    const raced = this.#budgets.get(accountId);
    if (raced) this.#giveBack(accountId, raced);
    this.#budgets.set(accountId, {
      tokens: batch - 1,
      until: performance.now() + RECIPIENT_BUDGET_MS,
      batch,
    });
    this.#startSweeper();
    return true;
  }

  /** Unspent tokens of a budget go back to the shared bucket (in the background; a failure only loses them). */
  #giveBack(accountId: number, budget: Budget): void {
    this.#budgets.delete(accountId);
    const rate = this.opts.messagesPerMinutePerRecipient;
    if (budget.tokens <= 0 || !this.limiter.refund) return;
    const tokens = budget.tokens;
    budget.tokens = 0;
    void this.guard(
      "recipient rate refund",
      () => this.limiter.refund!(`smtp:msg-rcpt:${accountId}`, rate, rate / 60, tokens),
      undefined,
    );
  }

  #startSweeper(): void {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const [id, budget] of this.#budgets) if (budget.until <= now) this.#giveBack(id, budget);
      if (this.#budgets.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, RECIPIENT_BUDGET_MS);
    this.#sweeper.unref();
  }

  /** Shutdown: every unspent budget goes back now. */
  close(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const [id, budget] of this.#budgets) this.#giveBack(id, budget);
  }
}
