/**
 * Storage lifecycle settings (issue 22): the blob reclaimer (blobs freed
 * through the reference queue, never by listing the bucket) and retention
 * (auto-expunge). Kept apart from index.ts so these grow here without every
 * branch editing the one schema. The README's configuration table and the
 * Helm chart's `lifecycle:` values list the same names.
 */
import { z } from "zod";

const DURATION = /^\s*\d+[smhd]?\s*$/;
const duration = (def: string) =>
  z
    .string()
    .regex(DURATION, "expected a duration, e.g. 90s, 5m, 1h, 30d")
    .default(def)
    .transform((v) => durationOf(v));

function durationOf(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim())!;
  const unit = { "": 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

const count = (def: number) =>
  z.coerce.number({ error: "expected a number" }).int("expected a whole number").positive().default(def);

/** "\\Trash=30,\\Junk=30,Spam=14": a special use or a mailbox name, = days (0 keeps forever). */
const retentionDefaults = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const out: { mailbox: string; days: number }[] = [];
    if (v === undefined || v.trim() === "") return out;
    for (const item of v.split(",")) {
      const m = /^\s*([^=]+?)\s*=\s*(\d+)\s*$/.exec(item);
      if (!m) {
        ctx.addIssue({
          code: "custom",
          message: `expected mailbox=days[,…], e.g. \\Trash=30 (bad: ${item})`,
        });
        return z.NEVER;
      }
      out.push({ mailbox: m[1]!, days: Number(m[2]) });
    }
    return out;
  });

export const lifecycleSchema = {
  /** A released blob is deleted only this long after its last reference went (deliveries in flight). */
  BLOB_RECLAIM_GRACE: duration("1h"),
  /** How often each replica looks for due blobs (a full batch is followed at once by the next). */
  BLOB_RECLAIM_INTERVAL: duration("1m"),
  /** Blobs per reclaim transaction. */
  BLOB_RECLAIM_BATCH: count(100),
  /** Global retention defaults; per-domain and per-account rules (mailctl retention) win over them. */
  RETENTION_DEFAULTS: retentionDefaults,
  /** How often a replica (under a lease) runs a retention sweep. */
  RETENTION_INTERVAL: duration("1h"),
  /** Messages expunged per mailbox per step (one expunge transaction each). */
  RETENTION_BATCH: count(500),
};

type Parsed = { [K in keyof typeof lifecycleSchema]: z.output<(typeof lifecycleSchema)[K]> };

export interface LifecycleConfig {
  blobReclaim: { graceMs: number; intervalMs: number; batch: number };
  retention: { defaults: { mailbox: string; days: number }[]; intervalMs: number; batch: number };
}

export function lifecycleConfig(e: Parsed): LifecycleConfig {
  return {
    blobReclaim: {
      graceMs: e.BLOB_RECLAIM_GRACE,
      intervalMs: e.BLOB_RECLAIM_INTERVAL,
      batch: e.BLOB_RECLAIM_BATCH,
    },
    retention: { defaults: e.RETENTION_DEFAULTS, intervalMs: e.RETENTION_INTERVAL, batch: e.RETENTION_BATCH },
  };
}

export const LIFECYCLE_VARIABLES = Object.keys(lifecycleSchema);
