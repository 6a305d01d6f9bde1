/**
 * Exactly-once delivery (table `delivery_dedupe`): a key recorded in the same
 * transaction as the appended rows. When the key was recorded less than
 * `windowSeconds` ago the append does nothing and throws DuplicateDeliveryError.
 */
import type { Queryable } from "../db.ts";

export interface DedupeOptions {
  key: string;
  windowSeconds: number;
}

export class DuplicateDeliveryError extends Error {
  constructor(readonly key: string) {
    super(`delivery ${key} was already committed within the dedupe window`);
    this.name = "DuplicateDeliveryError";
  }
}

/** Records the key, or throws DuplicateDeliveryError when it was recorded within the window. */
export async function claimDedupeKey(tx: Queryable, d: DedupeOptions): Promise<void> {
  const { rowCount } = await tx.query(
    `INSERT INTO delivery_dedupe (key, created_at) VALUES ($1, now())
       ON CONFLICT (key) DO UPDATE SET created_at = now()
        WHERE delivery_dedupe.created_at < now() - $2 * interval '1 second'`,
    [d.key, d.windowSeconds],
  );
  if (!rowCount) throw new DuplicateDeliveryError(d.key);
}

/** Forgets keys older than the window (they can no longer match); returns how many. */
export async function pruneDedupeKeys(db: Queryable, windowSeconds: number): Promise<number> {
  const { rowCount } = await db.query(
    "DELETE FROM delivery_dedupe WHERE created_at < now() - $1 * interval '1 second'",
    [windowSeconds],
  );
  return rowCount ?? 0;
}
