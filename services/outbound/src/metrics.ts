/**
 * Outbound metrics: recipients by result, per destination domain (the
 * domains mail goes to, not user addresses), attempt durations, and the
 * queue depth by age, read from Postgres when scraped (the queue is shared
 * by every replica, so any one of them reports the same numbers).
 */
import {
  type Counter,
  type Histogram,
  type Registry,
  sharedCounter,
  sharedGauge,
  sharedHistogram,
} from "@aerogram/observability";
import type { Store } from "@aerogram/store";

export class OutboundMetrics {
  readonly recipients: Counter<"result">;
  readonly domainRecipients: Counter<"domain" | "result">;
  readonly attemptSeconds: Histogram<"result">;
  readonly bounces: Counter<"outcome">;
  readonly notices: Counter<"kind" | "outcome">;

  constructor(registry: Registry, store: Pick<Store, "outbound">) {
    this.recipients = sharedCounter(registry, {
      name: "aerogram_outbound_recipients_total",
      help: "Outbound recipients by result (delivered, deferred, failed, expired)",
      labelNames: ["result"],
    });
    this.domainRecipients = sharedCounter(registry, {
      name: "aerogram_outbound_domain_recipients_total",
      help: "Outbound recipients by destination domain and result",
      labelNames: ["domain", "result"],
    });
    this.attemptSeconds = sharedHistogram(registry, {
      name: "aerogram_outbound_attempt_seconds",
      help: "Duration of one queue entry's delivery attempt by result",
      labelNames: ["result"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    });
    this.bounces = sharedCounter(registry, {
      name: "aerogram_outbound_bounces_total",
      help: "Failure notices by outcome (delivered, duplicate, no_local_sender, null_sender)",
      labelNames: ["outcome"],
    });
    this.notices = sharedCounter(registry, {
      name: "aerogram_outbound_notices_total",
      help: "Delay and success notices (RFC 3461 NOTIFY=DELAY/SUCCESS) by kind and outcome",
      labelNames: ["kind", "outcome"],
    });
    sharedGauge(registry, {
      name: "aerogram_outbound_queue_depth",
      help: "Queue entries (message x recipient domain) by age bucket (seconds, upper bound)",
      labelNames: ["age_le"],
      async collect() {
        try {
          for (const b of await store.outbound.depthByAge()) {
            this.set({ age_le: Number.isFinite(b.ageSeconds) ? String(b.ageSeconds) : "+Inf" }, b.entries);
          }
        } catch {
          // Postgres down: the scrape shows the last values; /readyz reports the outage.
        }
      },
    });
  }
}
