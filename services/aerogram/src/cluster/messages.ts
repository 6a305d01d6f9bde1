/**
 * The messages a cluster primary and its workers exchange over the IPC channel
 * (structured-clone serialisation, so `undefined` arguments survive). Every
 * message carries `ag` so other users of the channel (prom-client, Node's own
 * cluster messages) are told apart.
 */
import type { MailboxEvent } from "@aerogram/events";
import type { MetricObjectWithValues, MetricValue } from "prom-client";

/** Metrics of one process, as prom-client's getMetricsAsJSON gives them. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export type ToPrimary =
  /** The worker's listener for primary messages is in place: send "init". */
  | { ag: "hello" }
  /** Every service listens; endpoints for the start banner. */
  | { ag: "listening"; endpoints: string[] }
  /** A mailbox event published in the worker: the primary forwards it to the other workers watching its account. */
  | { ag: "event"; event: MailboxEvent }
  /** The worker's first handler for an account (watching) or its last one gone. */
  | { ag: "watch"; account: number; watching: boolean }
  /** A limiter call to the primary's in-memory limiter. */
  | { ag: "limit"; id: number; op: LimiterOp; args: unknown[] }
  | { ag: "metrics"; id: number; metrics: MetricsJson };

export type ToWorker =
  /** What the worker needs before it builds its runtime. */
  | { ag: "init"; embeddedUrl: string | undefined; sharedEvents: boolean; sharedLimits: boolean }
  | { ag: "event"; event: MailboxEvent }
  | { ag: "limit-reply"; id: number; ok: true; value: unknown }
  | { ag: "limit-reply"; id: number; ok: false; error: string }
  | { ag: "metrics-request"; id: number }
  /** SIGTERM of the primary: drain like a single process would. */
  | { ag: "drain"; graceMs: number };

export type LimiterOp =
  | "take"
  | "incr"
  | "get"
  | "getMany"
  | "reset"
  | "holdSlot"
  | "acquire"
  | "ping"
  | "lease.renew"
  | "lease.release"
  | "slot.release";

/** What acquire() answers over IPC: the lease's fields and a handle for renew/release. */
export interface LeaseReply {
  handle: number;
  key: string;
  fencingToken: number;
  handover: number;
}

export function isAerogramMessage<T extends { ag: string }>(message: unknown): message is T {
  return (
    typeof message === "object" && message !== null && typeof (message as { ag?: unknown }).ag === "string"
  );
}
