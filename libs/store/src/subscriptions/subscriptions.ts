import type { Pool } from "../db.ts";
import { normalizeMailboxName } from "../mailboxes/mailboxes.ts";

/**
 * Subscriptions of names without a mailbox (migration 003). A subscribed
 * mailbox uses mailboxes.subscribed; these rows keep a subscription across
 * DELETE and let a client subscribe a name before it exists.
 */
export class OrphanSubscriptions {
  constructor(private readonly pool: Pool) {}

  async list(accountId: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string }>(
      "SELECT name FROM imap_orphan_subscriptions WHERE account_id = $1 ORDER BY name",
      [accountId],
    );
    return rows.map((r) => r.name);
  }

  async add(accountId: number, name: string): Promise<void> {
    await this.pool.query(
      "INSERT INTO imap_orphan_subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
      [accountId, normalizeMailboxName(name)],
    );
  }

  /** Removes the orphan subscription; true when there was one. */
  async remove(accountId: number, name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "DELETE FROM imap_orphan_subscriptions WHERE account_id = $1 AND name = $2",
      [accountId, normalizeMailboxName(name)],
    );
    return (rowCount ?? 0) > 0;
  }
}
