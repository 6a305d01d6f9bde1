/**
 * Submission metrics: outcomes and reasons only, never an address.
 */
import { Counter, type Registry } from "@aerogram/observability";

export class SubmissionMetrics {
  readonly messages: Counter<"result">;
  readonly recipients: Counter<"kind">;
  readonly dkim: Counter<"result">;

  constructor(registry: Registry) {
    const once = <T>(name: string, make: () => T): T =>
      (registry.getSingleMetric(name) as T | undefined) ?? make();
    this.messages = once(
      "aerogram_submission_messages_total",
      () =>
        new Counter({
          name: "aerogram_submission_messages_total",
          help: "Submitted messages by result (accepted, sender_denied, rate_limited, too_big, failed, aborted)",
          labelNames: ["result"],
          registers: [registry],
        }),
    );
    this.recipients = once(
      "aerogram_submission_recipients_total",
      () =>
        new Counter({
          name: "aerogram_submission_recipients_total",
          help: "Recipients of accepted submissions by kind (local: delivered now, remote: queued)",
          labelNames: ["kind"],
          registers: [registry],
        }),
    );
    this.dkim = once(
      "aerogram_submission_dkim_total",
      () =>
        new Counter({
          name: "aerogram_submission_dkim_total",
          help: "DKIM signing of submitted messages by result (signed, no_key, error)",
          labelNames: ["result"],
          registers: [registry],
        }),
    );
  }
}
