/**
 * Mailbox operations the IMAP gateway needs beyond the basic repository:
 * RENAME (with children, and RFC 9051 §6.3.6 INBOX semantics), DELETE, STATUS
 * counts in one query, and \Recent claiming (RFC 3501 §2.3.2).
 */
import { type Pool, withTransaction } from "./db.ts";
import { DELETED, SEEN } from "./flags.ts";
import { HIERARCHY_DELIMITER, MailboxExistsError, normalizeMailboxName } from "./mailboxes.ts";

export class MailboxMissingError extends Error {
  constructor(readonly mailboxName: string) {
    super(`mailbox ${mailboxName} does not exist`);
    this.name = "MailboxMissingError";
  }
}

export interface MailboxStatusCounts {
  messages: number;
  /** Messages with uid >= recent_uid (not yet claimed by any session). */
  recent: number;
  unseen: number;
  deleted: number;
  size: number;
  uidNext: number;
  uidValidity: number;
  highestModseq: number;
}

export interface RenameResult {
  /** Mailbox ids whose name changed (or, for INBOX, the new mailbox). */
  mailboxIds: number[];
  /** INBOX rename: the UIDs moved out of INBOX and the MODSEQ of that expunge. */
  inboxExpunge?: { inboxId: number; uids: number[]; modseq: number };
}

export class ImapMailboxes {
  constructor(private readonly pool: Pool) {}

  /**
   * STATUS items in one row read plus one index scan (RFC 9051 §6.3.11). With
   * `watchId` (the session's selected mailbox) its HIGHESTMODSEQ comes back in
   * the same statement, as `watchedModseq`, so the session's sync needs no query.
   */
  async status(
    mailboxId: number,
    watchId?: number,
  ): Promise<(MailboxStatusCounts & { watchedModseq?: number }) | undefined> {
    return this.#status("b.id = $1", [mailboxId], watchId);
  }

  /**
   * STATUS of a mailbox named by the client, in the same one statement: the name
   * lookup is the row read (STATUS costs one round trip, not a lookup and a count).
   */
  async statusByName(
    accountId: number,
    name: string,
    watchId?: number,
  ): Promise<(MailboxStatusCounts & { id: number; name: string; watchedModseq?: number }) | undefined> {
    return this.#status(
      "b.account_id = $1 AND b.name = $3",
      [accountId, normalizeMailboxName(name)],
      watchId,
    );
  }

  async #status(
    where: string,
    params: [number] | [number, string],
    watchId: number | undefined,
  ): Promise<(MailboxStatusCounts & { id: number; name: string; watchedModseq?: number }) | undefined> {
    const { rows } = await this.pool.query<{
      id: number;
      name: string;
      message_count: number;
      total_size: number;
      uidnext: number;
      uidvalidity: number;
      highestmodseq: number;
      recent: string;
      unseen: string;
      deleted: string;
      watched: number | null;
    }>(
      `SELECT b.id, b.name, b.message_count, b.total_size, b.uidnext, b.uidvalidity, b.highestmodseq,
              (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.uid >= b.recent_uid) AS recent,
              (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & ${SEEN} = 0) AS unseen,
              (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & ${DELETED} <> 0) AS deleted,
              (SELECT w.highestmodseq FROM mailboxes w WHERE w.id = $2) AS watched
         FROM mailboxes b WHERE ${where}`,
      params.length === 1 ? [params[0], watchId ?? null] : [params[0], watchId ?? null, params[1]],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      id: r.id,
      name: r.name,
      messages: r.message_count,
      recent: Number(r.recent),
      unseen: Number(r.unseen),
      deleted: Number(r.deleted),
      size: r.total_size,
      uidNext: r.uidnext,
      uidValidity: r.uidvalidity,
      highestModseq: r.highestmodseq,
      ...(r.watched !== null ? { watchedModseq: r.watched } : {}),
    };
  }

  /**
   * Claims the \Recent messages below `uidNext` for one session: returns the
   * first UID of the claimed range [from, uidNext). Only one session ever
   * claims a given UID (the row lock serialises claims across replicas).
   */
  async claimRecent(mailboxId: number, uidNext: number): Promise<number> {
    // One statement: the row is locked and written only when something is left to
    // claim; the common case (nothing new since the last claim) matches no row.
    const { rows } = await this.pool.query<{ old: number }>(
      `UPDATE mailboxes m SET recent_uid = $2
         FROM (SELECT recent_uid AS old FROM mailboxes WHERE id = $1 FOR UPDATE) o
        WHERE m.id = $1 AND m.recent_uid < $2 RETURNING o.old`,
      [mailboxId, uidNext],
    );
    return rows[0] ? Math.min(rows[0].old, uidNext) : uidNext;
  }

  /** The first \Recent UID not yet claimed (EXAMINE looks without claiming). */
  async recentFrom(mailboxId: number): Promise<number> {
    const { rows } = await this.pool.query<{ recent_uid: number }>(
      "SELECT recent_uid FROM mailboxes WHERE id = $1",
      [mailboxId],
    );
    return rows[0]?.recent_uid ?? Number.MAX_SAFE_INTEGER;
  }

  /** Deletes one mailbox and its messages (children keep existing; RFC 9051 §6.3.5). */
  async delete(mailboxId: number): Promise<void> {
    await this.pool.query("DELETE FROM mailboxes WHERE id = $1", [mailboxId]);
  }

  /**
   * RENAME: the mailbox and every inferior name move in one transaction
   * (RFC 9051 §6.3.6). Renaming INBOX instead creates `to`, moves INBOX's
   * messages into it (keeping their UIDs under the new UIDVALIDITY) and leaves
   * INBOX empty; INBOX's inferiors are not renamed.
   */
  async rename(accountId: number, from: string, to: string): Promise<RenameResult> {
    const source = normalizeMailboxName(from);
    const target = normalizeMailboxName(to);
    return withTransaction(this.pool, async (tx) => {
      const exists = await tx.query("SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2", [
        accountId,
        target,
      ]);
      if (exists.rows.length) throw new MailboxExistsError(target);
      const src = await tx.query<{ id: number; uidnext: number; highestmodseq: number }>(
        "SELECT id, uidnext, highestmodseq FROM mailboxes WHERE account_id = $1 AND name = $2 FOR UPDATE",
        [accountId, source],
      );
      const row = src.rows[0];
      if (!row) throw new MailboxMissingError(source);
      if (source === "INBOX") {
        const created = await tx.query<{ id: number }>(
          "INSERT INTO mailboxes (account_id, name, uidnext) VALUES ($1, $2, $3) RETURNING id",
          [accountId, target, row.uidnext],
        );
        const newId = created.rows[0]!.id;
        const moved = await tx.query<{ uid: number; size: number }>(
          `UPDATE messages SET mailbox_id = $2, modseq = 1 WHERE mailbox_id = $1 RETURNING uid, size`,
          [row.id, newId],
        );
        const uids = moved.rows.map((r) => r.uid).sort((a, b) => a - b);
        const bytes = moved.rows.reduce((s, r) => s + r.size, 0);
        const modseq = row.highestmodseq + 1;
        await tx.query(
          `UPDATE mailboxes SET message_count = $2, total_size = $3, highestmodseq = 2,
                  keywords = (SELECT keywords FROM mailboxes WHERE id = $4)
            WHERE id = $1`,
          [newId, uids.length, bytes, row.id],
        );
        await tx.query(
          `UPDATE messages SET modseq = 2 WHERE mailbox_id = $1`, // a fresh mailbox: one MODSEQ for all
          [newId],
        );
        if (uids.length) {
          await tx.query(
            `INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, uid, $3 FROM unnest($2::bigint[]) uid
               ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq`,
            [row.id, uids, modseq],
          );
        }
        await tx.query(
          "UPDATE mailboxes SET message_count = 0, total_size = 0, highestmodseq = $2 WHERE id = $1",
          [row.id, modseq],
        );
        return { mailboxIds: [newId], inboxExpunge: { inboxId: row.id, uids, modseq } };
      }
      const prefix = source + HIERARCHY_DELIMITER;
      const renamed = await tx.query<{ id: number }>(
        `UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1)
          WHERE account_id = $1 AND (name = $2 OR left(name, length($4)) = $4)
          RETURNING id`,
        [accountId, source, target, prefix],
      );
      return { mailboxIds: renamed.rows.map((r) => r.id) };
    });
  }
}

/**
 * Subscriptions of names without a mailbox (migration 003). A subscribed
 * mailbox uses mailboxes.subscribed; these rows keep a subscription across
 * DELETE and let a client subscribe a name before it exists.
 */
export class ImapOrphanSubscriptions {
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
