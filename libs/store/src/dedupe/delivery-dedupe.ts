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

/**
 * Claims many keys of one window in one statement (a group commit); returns
 * the keys claimed now. A key missing from the answer was claimed within the
 * window: its delivery is a duplicate. Keys are locked in sorted order so two
 * concurrent groups can't deadlock on them.
 */
export async function claimDedupeKeys(
  tx: Queryable,
  keys: readonly string[],
  windowSeconds: number,
): Promise<Set<string>> {
  const sorted = [...keys].sort();
  const { rows } = await tx.query<{ key: string }>(
    `INSERT INTO delivery_dedupe (key, created_at) SELECT k, now() FROM unnest($1::text[]) AS k
       ON CONFLICT (key) DO UPDATE SET created_at = now()
        WHERE delivery_dedupe.created_at < now() - $2 * interval '1 second'
     RETURNING key`,
    [sorted, windowSeconds],
  );
  return new Set(rows.map((r) => r.key));
}

/** Forgets keys older than the window (they can no longer match); returns how many. */
export async function pruneDedupeKeys(db: Queryable, windowSeconds: number): Promise<number> {
  const { rowCount } = await db.query(
    "DELETE FROM delivery_dedupe WHERE created_at < now() - $1 * interval '1 second'",
    [windowSeconds],
  );
  return rowCount ?? 0;
}
