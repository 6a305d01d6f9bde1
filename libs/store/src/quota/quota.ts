/**
 * Quota: an account's usage is the sum of its mailboxes' counters (kept by
 * every append, copy and expunge in the same transaction as the rows), so a
 * check reads a handful of mailbox rows, never the messages.
 */
import type { Queryable } from "../db.ts";

export class QuotaExceededError extends Error {
  constructor() {
    super("quota exceeded");
    this.name = "QuotaExceededError";
  }
}

/** Bytes and messages used across all of an account's mailboxes. */
export async function accountUsage(
  db: Queryable,
  accountId: number,
): Promise<{ bytes: number; messages: number }> {
  const { rows } = await db.query<{ bytes: number; messages: number }>(
    `SELECT COALESCE(sum(total_size), 0)::bigint AS bytes, COALESCE(sum(message_count), 0)::bigint AS messages
       FROM mailboxes WHERE account_id = $1`,
    [accountId],
  );
  return rows[0]!;
}
