/**
 * SMTP-in metrics. Labels carry outcomes and reasons only, never an address
 * (observability README: no per-user labels).
 */
import { Counter, type Gauge, Histogram, type Registry, sessionsGauge } from "@aerogram/observability";

/** The configurable limits, as the `limit` label of aerogram_smtp_limit_refusals_total. */
export type SmtpLimitName =
  | "connections_per_ip"
  | "messages_per_ip"
  | "messages_per_recipient"
  | "message_size"
  | "recipients"
  | "line_length"
  | "idle_timeout"
  | "command_deadline"
  | "data_deadline";

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

  constructor(registry: Registry) {
    const once = <T>(name: string, make: () => T): T =>
      (registry.getSingleMetric(name) as T | undefined) ?? make();
    this.connections = once(
      "aerogram_smtp_connections_total",
      () =>
        new Counter({
          name: "aerogram_smtp_connections_total",
          help: "SMTP connections by result (accepted, rate_limited, draining)",
          labelNames: ["result"],
          registers: [registry],
        }),
    );
    this.openConnections = sessionsGauge(registry, "smtp");
    this.limitRefusals = once(
      "aerogram_smtp_limit_refusals_total",
      () =>
        new Counter({
          name: "aerogram_smtp_limit_refusals_total",
          help: "SMTP replies refusing a command or ending a session because a configured limit tripped, by limit",
          labelNames: ["limit"],
          registers: [registry],
        }),
    );
    this.transactions = once(
      "aerogram_smtp_transactions_total",
      () =>
        new Counter({
          name: "aerogram_smtp_transactions_total",
          help: "Completed DATA transactions by result (delivered, duplicate, rejected, failed, aborted)",
          labelNames: ["result"],
          registers: [registry],
        }),
    );
    this.recipients = once(
      "aerogram_smtp_recipients_total",
      () =>
        new Counter({
          name: "aerogram_smtp_recipients_total",
          help: "RCPT TO answers by result (accepted, rejected, deferred) and reason",
          labelNames: ["result", "reason"],
          registers: [registry],
        }),
    );
    this.receivedBytes = once(
      "aerogram_smtp_received_bytes_total",
      () =>
        new Counter({
          name: "aerogram_smtp_received_bytes_total",
          help: "Octets of message data received (after dot-unstuffing)",
          registers: [registry],
        }),
    );
    this.deliverySeconds = once(
      "aerogram_smtp_delivery_duration_seconds",
      () =>
        new Histogram({
          name: "aerogram_smtp_delivery_duration_seconds",
          help: "From the end of DATA to the 250 reply (auth checks, blob, index, transaction, events)",
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers: [registry],
        }),
    );
    this.authVerdicts = once(
      "aerogram_smtp_auth_verdicts_total",
      () =>
        new Counter({
          name: "aerogram_smtp_auth_verdicts_total",
          help: "SPF, DKIM and DMARC verdicts of received messages (recorded, not enforced)",
          labelNames: ["method", "result"],
          registers: [registry],
        }),
    );
  }
}
