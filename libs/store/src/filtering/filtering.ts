/**
 * Inbound filtering's rows (migration 020): per-account spam settings, the
 * Junk mailbox a spam verdict delivers into (created on demand, RFC 6154
 * \Junk), and the outbox of messages to teach rspamd.
 *
 * What a Junk verdict does for an account: the account's own setting when it
 * has one (account_filter_settings: true = INBOX, false = Junk), else its
 * domain's `spam_action` (migration 040: inbox, junk, reject), else Junk.
 */
import type { Pool } from "../db.ts";

/** What a Junk verdict does for one account. */
export type SpamAction = "inbox" | "junk" | "reject";

export interface FilterTarget {
  accountId: number;
  action: SpamAction;
  /**
   * INBOX for "inbox", the \Junk mailbox (created if the account had none) for
   * "junk"; undefined for "reject" (the caller refuses the message).
   */
  mailboxId: number | undefined;
}

export interface LearnJob {
  id: number;
  accountId: number;
  blobKey: string;
  kind: "spam" | "ham";
  attempts: number;
}

export class Filtering {
  constructor(private readonly pool: Pool) {}

  async spamToInbox(accountId: number): Promise<boolean> {
    const { rows } = await this.pool.query<{ spam_to_inbox: boolean }>(
      "SELECT spam_to_inbox FROM account_filter_settings WHERE account_id = $1",
      [accountId],
    );
    return rows[0]?.spam_to_inbox ?? false;
  }

  /** The account's own choice; null removes it (its domain's spam_action applies again). */
  async setSpamToInbox(accountId: number, value: boolean | null): Promise<void> {
    if (value === null) {
      await this.pool.query("DELETE FROM account_filter_settings WHERE account_id = $1", [accountId]);
      return;
    }
    await this.pool.query(
      `INSERT INTO account_filter_settings (account_id, spam_to_inbox) VALUES ($1, $2)
         ON CONFLICT (account_id) DO UPDATE SET spam_to_inbox = EXCLUDED.spam_to_inbox`,
      [accountId, value],
    );
  }

  /**
   * The account's spam action, one query: its explicit setting wins over its
   * domain's default, which wins over "junk".
   */
  async spamAction(accountId: number): Promise<SpamAction> {
    const { rows } = await this.pool.query<{ action: SpamAction | null }>(
      `SELECT coalesce(
                CASE s.spam_to_inbox WHEN true THEN 'inbox' WHEN false THEN 'junk' END,
                d.spam_action) AS action
         FROM accounts a
         LEFT JOIN account_filter_settings s ON s.account_id = a.id
         LEFT JOIN domains d ON d.name = split_part(a.address, '@', 2)
        WHERE a.id = $1`,
      [accountId],
    );
    return rows[0]?.action ?? "junk";
  }

  /**
   * Where a message judged spam goes for this account (spamAction): INBOX, its
   * \Junk mailbox (created as "Junk", or "Junk-1", … if a plain mailbox holds
   * that name, when the account has none), or nowhere (reject).
   */
  async spamTarget(accountId: number, inboxId: number): Promise<FilterTarget> {
    const action = await this.spamAction(accountId);
    if (action === "inbox") return { accountId, action, mailboxId: inboxId };
    if (action === "reject") return { accountId, action, mailboxId: undefined };
    return { accountId, action, mailboxId: await this.junkMailbox(accountId) };
  }

  /** The account's \Junk mailbox id, created on demand. */
  async junkMailbox(accountId: number): Promise<number> {
    const found = await this.pool.query<{ id: number }>(
      "SELECT id FROM mailboxes WHERE account_id = $1 AND special_use = '\\Junk' ORDER BY id LIMIT 1",
      [accountId],
    );
    if (found.rows[0]) return Number(found.rows[0].id);
    for (let i = 0; i < 10; i++) {
      const name = i === 0 ? "Junk" : `Junk-${i}`;
      const { rows } = await this.pool.query<{ id: number }>(
        `INSERT INTO mailboxes (account_id, name, special_use) VALUES ($1, $2, '\\Junk')
           ON CONFLICT (account_id, name) DO NOTHING RETURNING id`,
        [accountId, name],
      );
      if (rows[0]) return Number(rows[0].id);
      // Another delivery may have just created it: take that one.
      const again = await this.pool.query<{ id: number }>(
        "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2 AND special_use = '\\Junk'",
        [accountId, name],
      );
      if (again.rows[0]) return Number(again.rows[0].id);
    }
    throw new Error(`no free name for account ${accountId}'s Junk mailbox`);
  }

  /** The special-use attribute of a mailbox (the learning hook's "is this Junk?"). */
  async specialUse(mailboxId: number): Promise<string | null> {
    const { rows } = await this.pool.query<{ special_use: string | null }>(
      "SELECT special_use FROM mailboxes WHERE id = $1",
      [mailboxId],
    );
    return rows[0]?.special_use ?? null;
  }

  /**
   * Queues messages to learn. A (account, blob, kind) already queued or learnt
   * is not queued again: each message is taught at most once per class.
   * Returns how many rows were added.
   */
  async queueLearn(accountId: number, blobKeys: readonly string[], kind: "spam" | "ham"): Promise<number> {
    if (blobKeys.length === 0) return 0;
    const { rowCount } = await this.pool.query(
      `INSERT INTO spam_learn_outbox (account_id, blob_key, kind)
         SELECT $1, k, $3 FROM unnest($2::text[]) AS k
         ON CONFLICT (account_id, blob_key, kind) DO NOTHING`,
      [accountId, [...new Set(blobKeys)], kind],
    );
    return rowCount ?? 0;
  }

  /**
   * Queues the messages with `uids` in `mailboxId` (just copied or moved
   * there) to learn as `kind`; returns how many were new.
   */
  async queueLearnFromMailbox(
    accountId: number,
    mailboxId: number,
    uids: readonly number[],
    kind: "spam" | "ham",
  ): Promise<number> {
    if (uids.length === 0) return 0;
    const { rowCount } = await this.pool.query(
      `INSERT INTO spam_learn_outbox (account_id, blob_key, kind)
         SELECT DISTINCT $1::integer, blob_key, $4 FROM messages WHERE mailbox_id = $2 AND uid = ANY($3::bigint[])
         ON CONFLICT (account_id, blob_key, kind) DO NOTHING`,
      [accountId, mailboxId, uids, kind],
    );
    return rowCount ?? 0;
  }

  /** Due jobs, pushed back by `leaseMs` so another worker skips them meanwhile. */
  async claimLearn(limit: number, leaseMs: number): Promise<LearnJob[]> {
    const { rows } = await this.pool.query<{
      id: string;
      account_id: number;
      blob_key: string;
      kind: "spam" | "ham";
      attempts: number;
    }>(
      `UPDATE spam_learn_outbox SET next_attempt_at = now() + $2 * interval '1 millisecond', attempts = attempts + 1
        WHERE id IN (SELECT id FROM spam_learn_outbox
                      WHERE done_at IS NULL AND next_attempt_at <= now()
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, account_id, blob_key, kind, attempts`,
      [limit, leaseMs],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      accountId: r.account_id,
      blobKey: r.blob_key,
      kind: r.kind,
      attempts: r.attempts,
    }));
  }

  async learnDone(id: number): Promise<void> {
    await this.pool.query("UPDATE spam_learn_outbox SET done_at = now(), last_error = NULL WHERE id = $1", [
      id,
    ]);
  }

  /** A failed attempt: retried after `retryMs`, given up (done with the error) after maxAttempts. */
  async learnFailed(id: number, error: string, retryMs: number, maxAttempts: number): Promise<void> {
    await this.pool.query(
      `UPDATE spam_learn_outbox SET last_error = $2,
              next_attempt_at = now() + $3 * interval '1 millisecond',
              done_at = CASE WHEN attempts >= $4 THEN now() END
        WHERE id = $1`,
      [id, error.slice(0, 500), retryMs, maxAttempts],
    );
  }

  /** Queued jobs not yet done (tests, metrics). */
  async learnPending(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM spam_learn_outbox WHERE done_at IS NULL",
    );
    return Number(rows[0]!.n);
  }
}
