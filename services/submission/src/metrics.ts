/**
 * Submission metrics: outcomes and reasons only, never an address.
 */
import { type Counter, type Registry, sharedCounter } from "@aerogram/observability";

export class SubmissionMetrics {
  readonly messages: Counter<"result">;
  readonly recipients: Counter<"kind">;
  readonly dkim: Counter<"result">;

  constructor(registry: Registry) {
    this.messages = sharedCounter(registry, {
      name: "aerogram_submission_messages_total",
      help: "Submitted messages by result (accepted, sender_denied, rate_limited, too_big, failed, aborted)",
      labelNames: ["result"],
    });
    this.recipients = sharedCounter(registry, {
      name: "aerogram_submission_recipients_total",
      help: "Recipients of accepted submissions by kind (local: delivered now, remote: queued)",
      labelNames: ["kind"],
    });
    this.dkim = sharedCounter(registry, {
      name: "aerogram_submission_dkim_total",
      help: "DKIM signing of submitted messages by result (signed, no_key, error)",
      labelNames: ["result"],
    });
  }
}
