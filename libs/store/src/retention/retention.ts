/**
 * Retention (auto-expunge) rules and the query the retention worker runs
 * (migration 030 retention_rules). A rule names a mailbox by special use
 * ("\\Trash") or by name; the first of these that matches a mailbox wins:
 * the account's rule for its name, for its special use, the domain's rule
 * (keyed by the domain NAME) for its name, for its special use, the
 * domain's own `retention_days` (migration 040; \Trash and \Junk only, by
 * special use), then the global default (configuration) for its name, for
 * its special use. days = 0 keeps mail forever.
 */
import type { Pool } from "../db.ts";

export interface RetentionRule {
  /** Exactly one of accountId and domain. */
  accountId?: number;
  domain?: string;
  /** A special use ("\\Trash", "\\Junk") or a mailbox name. */
  mailbox: string;
  days: number;
}

/** A global default from configuration (RETENTION_DEFAULTS). */
export interface RetentionDefault {
  mailbox: string;
  days: number;
}

/** Messages of one mailbox past its retention period, oldest UIDs first. */
export interface RetentionDue {
  mailboxId: number;
  accountId: number;
  days: number;
  uids: number[];
}

export class Retention {
  constructor(private readonly pool: Pool) {}

  /** Creates or replaces a rule. */
  async setRule(rule: RetentionRule): Promise<void> {
    if ((rule.accountId === undefined) === (rule.domain === undefined))
      throw new Error("a retention rule belongs to an account or to a domain");
    if (!Number.isInteger(rule.days) || rule.days < 0) throw new RangeError("days must be an integer >= 0");
    await this.pool.query(
      `INSERT INTO retention_rules (account_id, domain, mailbox, days) VALUES ($1, $2, $3, $4)
       ON CONFLICT (account_id, domain, mailbox) DO UPDATE SET days = excluded.days`,
      [rule.accountId ?? null, rule.domain?.toLowerCase() ?? null, rule.mailbox, rule.days],
    );
  }

  /** Removes a rule; returns whether one existed. */
  async deleteRule(rule: Omit<RetentionRule, "days">): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM retention_rules
        WHERE account_id IS NOT DISTINCT FROM $1 AND domain IS NOT DISTINCT FROM $2 AND mailbox = $3`,
      [rule.accountId ?? null, rule.domain?.toLowerCase() ?? null, rule.mailbox],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Rules of an account or a domain (both when neither is given). */
  async listRules(filter: { accountId?: number; domain?: string } = {}): Promise<RetentionRule[]> {
    const { rows } = await this.pool.query<{
      account_id: number | null;
      domain: string | null;
      mailbox: string;
      days: number;
    }>(
      `SELECT account_id, domain, mailbox, days FROM retention_rules
        WHERE ($1::int IS NULL OR account_id = $1) AND ($2::text IS NULL OR domain = $2)
        ORDER BY domain NULLS FIRST, account_id, mailbox`,
      [filter.accountId ?? null, filter.domain?.toLowerCase() ?? null],
    );
    return rows.map((r) => ({
      ...(r.account_id !== null ? { accountId: r.account_id } : {}),
      ...(r.domain !== null ? { domain: r.domain } : {}),
      mailbox: r.mailbox,
      days: r.days,
    }));
  }

  /**
   * One bounded step of the retention sweep: mailboxes with id > afterMailboxId
   * (in id order, at most `mailboxLimit` of those a rule or default names),
   * each with at most `perMailbox` UIDs saved more than its period ago. Only
   * mailboxes whose name or special use some rule or default mentions are
   * examined. `next` is the cursor for the following step (undefined: the
   * sweep is complete).
   */
  async due(
    defaults: readonly RetentionDefault[],
    afterMailboxId: number,
    mailboxLimit: number,
    perMailbox: number,
    now?: Date,
  ): Promise<{ due: RetentionDue[]; next: number | undefined }> {
    const { rows } = await this.pool.query<{
      id: number;
      account_id: number;
      days: number | null;
      uids: number[] | null;
    }>(
      `WITH defaults AS (SELECT * FROM unnest($1::text[], $2::int[]) AS d(mailbox, days)),
       named AS (SELECT mailbox FROM defaults UNION SELECT mailbox FROM retention_rules
                 UNION SELECT unnest(ARRAY['\\Trash', '\\Junk'])
                  WHERE EXISTS (SELECT 1 FROM domains WHERE retention_days IS NOT NULL)),
       boxes AS (
         SELECT mb.id, mb.account_id, coalesce(
             (SELECT r.days FROM retention_rules r WHERE r.account_id = mb.account_id AND r.mailbox = mb.name),
             (SELECT r.days FROM retention_rules r WHERE r.account_id = mb.account_id AND r.mailbox = mb.special_use),
             (SELECT r.days FROM retention_rules r
               WHERE r.domain = split_part(a.address, '@', 2) AND r.mailbox = mb.name),
             (SELECT r.days FROM retention_rules r
               WHERE r.domain = split_part(a.address, '@', 2) AND r.mailbox = mb.special_use),
             (SELECT dm.retention_days FROM domains dm
               WHERE dm.name = split_part(a.address, '@', 2) AND mb.special_use IN ('\\Trash', '\\Junk')),
             (SELECT d.days FROM defaults d WHERE d.mailbox = mb.name),
             (SELECT d.days FROM defaults d WHERE d.mailbox = mb.special_use)) AS days
           FROM mailboxes mb JOIN accounts a ON a.id = mb.account_id
          WHERE mb.id > $3 AND (mb.name IN (SELECT mailbox FROM named) OR mb.special_use IN (SELECT mailbox FROM named))
          ORDER BY mb.id LIMIT $4)
       SELECT b.id, b.account_id, b.days,
              (SELECT array_agg(uid ORDER BY uid) FROM (
                 SELECT m.uid FROM messages m
                  WHERE m.mailbox_id = b.id AND b.days > 0
                    AND m.saved_date < coalesce($6::timestamptz, now()) - make_interval(days => b.days)
                  ORDER BY m.uid LIMIT $5) x) AS uids
         FROM boxes b ORDER BY b.id`,
      [
        defaults.map((d) => d.mailbox),
        defaults.map((d) => d.days),
        afterMailboxId,
        mailboxLimit,
        perMailbox,
        now ?? null,
      ],
    );
    const due = rows
      .filter((r) => r.uids && r.uids.length > 0)
      .map((r) => ({
        mailboxId: r.id,
        accountId: r.account_id,
        days: r.days ?? 0,
        uids: r.uids!.map(Number),
      }));
    return { due, next: rows.length < mailboxLimit ? undefined : rows[rows.length - 1]!.id };
  }
}
