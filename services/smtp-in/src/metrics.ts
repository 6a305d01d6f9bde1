/**
 * SMTP-in metrics. Labels carry outcomes and reasons only, never an address
 * (observability README: no per-user labels).
 */
import type { Counter, Gauge, Histogram, Registry } from "@aerogram/observability";
import { sessionsGauge, sharedCounter, sharedHistogram } from "@aerogram/observability";
import type { SmtpLimitName } from "@aerogram/smtp";

export type { SmtpLimitName };

export class SmtpMetrics {
  readonly connections: Counter<"result">;
  /** One per refusal or disconnection because a configured limit tripped. */
  readonly limitRefusals: Counter<"limit">;
  /** aerogram_sessions{protocol="smtp"} */
  readonly openConnections: Gauge.Internal<"protocol">;
  readonly transactions: Counter<"result">;
  readonly recipients: Counter<"result" | "reason">;
  readonly receivedBytes: Counter;
  readonly deliverySeconds: Histogram;
  readonly authVerdicts: Counter<"method" | "result">;
  /** rspamd verdicts by action (no_action, add_header, reject, …, unscanned_timeout, …). */
  readonly spamVerdicts: Counter<"action">;
  /** DMARC policy applied: reject, quarantine, none (a failing message under p=none). */
  readonly dmarcActions: Counter<"action">;
  /** Delivered copies by mailbox kind (inbox, junk, other: a Sieve fileinto). */
  readonly placements: Counter<"mailbox">;

  constructor(registry: Registry) {
    this.connections = sharedCounter(registry, {
      name: "aerogram_smtp_connections_total",
      help: "SMTP connections by result (accepted, rate_limited, draining)",
      labelNames: ["result"],
    });
    this.openConnections = sessionsGauge(registry, "smtp");
    this.limitRefusals = sharedCounter(registry, {
      name: "aerogram_smtp_limit_refusals_total",
      help: "SMTP replies refusing a command or ending a session because a configured limit tripped, by limit",
      labelNames: ["limit"],
    });
    this.transactions = sharedCounter(registry, {
      name: "aerogram_smtp_transactions_total",
      help: "Completed DATA transactions by result (delivered, duplicate, rejected, failed, aborted)",
      labelNames: ["result"],
    });
    this.recipients = sharedCounter(registry, {
      name: "aerogram_smtp_recipients_total",
      help: "RCPT TO answers by result (accepted, rejected, deferred) and reason",
      labelNames: ["result", "reason"],
    });
    this.receivedBytes = sharedCounter(registry, {
      name: "aerogram_smtp_received_bytes_total",
      help: "Octets of message data received (after dot-unstuffing)",
    });
    this.deliverySeconds = sharedHistogram(registry, {
      name: "aerogram_smtp_delivery_duration_seconds",
      help: "From the end of DATA to the 250 reply (auth checks, blob, index, transaction, events)",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.authVerdicts = sharedCounter(registry, {
      name: "aerogram_smtp_auth_verdicts_total",
      help: "SPF, DKIM, DMARC and ARC verdicts of received messages",
      labelNames: ["method", "result"],
    });
    this.spamVerdicts = sharedCounter(registry, {
      name: "aerogram_spam_verdicts_total",
      help: "rspamd verdicts at SMTP-in by action (unscanned_*: rspamd down, slow, garbled, or the message too large)",
      labelNames: ["action"],
    });
    this.dmarcActions = sharedCounter(registry, {
      name: "aerogram_dmarc_policy_actions_total",
      help: "DMARC failures at SMTP-in by the policy applied (reject, quarantine, none)",
      labelNames: ["action"],
    });
    this.placements = sharedCounter(registry, {
      name: "aerogram_smtp_delivered_copies_total",
      help: "Copies delivered by SMTP-in by mailbox kind (inbox, junk, other: a Sieve fileinto)",
      labelNames: ["mailbox"],
    });
  }
}
