/**
 * Per-account send limits, cluster-wide in the shared limiter (Redis across
 * replicas): messages per hour and recipients per day as token buckets, and
 * recipients per message at RCPT. A compromised password then sends a
 * bounded amount of spam. With the limiter down mail goes through (logged),
 * as SMTP-in does: an outage of Redis must not stop all mail.
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

export class SendLimits {
  constructor(
    private readonly limiter: Limiter,
    readonly opts: SendLimitOptions,
    private readonly log: Logger,
  ) {}

  /** Charges one message with `recipients` recipients to the account, or says which limit it hit. */
  async charge(accountId: number, recipients: number): Promise<SendVerdict> {
    try {
      const hour = await this.limiter.take(
        `send:msg:${accountId}`,
        this.opts.messagesPerHour,
        this.opts.messagesPerHour / 3600,
      );
      if (!hour.allowed) return { ok: false, limit: "messages_per_hour", retryAfterMs: hour.retryAfterMs };
      const day = await this.limiter.take(
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
}
