/**
 * STATUS counts (RFC 9051 §6.3.11) and \Recent claiming (RFC 3501 §2.3.2):
 * mailboxes.recent_uid is the first UID no session has claimed yet.
 */
import type { Queryable } from "../db.ts";
import { DELETED, SEEN } from "../messages/flags.ts";

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

/** STATUS items in one row read plus one index scan (RFC 9051 §6.3.11). */
export async function mailboxStatus(
  db: Queryable,
  mailboxId: number,
): Promise<MailboxStatusCounts | undefined> {
  const { rows } = await db.query<{
    message_count: number;
    total_size: number;
    uidnext: number;
    uidvalidity: number;
    highestmodseq: number;
    recent: string;
    unseen: string;
    deleted: string;
  }>(
    `SELECT b.message_count, b.total_size, b.uidnext, b.uidvalidity, b.highestmodseq,
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.uid >= b.recent_uid) AS recent,
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & ${SEEN} = 0) AS unseen,
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & ${DELETED} <> 0) AS deleted
       FROM mailboxes b WHERE b.id = $1`,
    [mailboxId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    messages: r.message_count,
    recent: Number(r.recent),
    unseen: Number(r.unseen),
    deleted: Number(r.deleted),
    size: r.total_size,
    uidNext: r.uidnext,
    uidValidity: r.uidvalidity,
    highestModseq: r.highestmodseq,
  };
}

/**
 * Claims the \Recent messages below `uidNext` for one session: returns the
 * first UID of the claimed range [from, uidNext). Only one session ever
 * claims a given UID (the row lock serialises claims across replicas).
 */
export async function claimRecent(db: Queryable, mailboxId: number, uidNext: number): Promise<number> {
  // Nothing to claim (the common re-SELECT): a read, not a row lock and a commit.
  if ((await recentFrom(db, mailboxId)) >= uidNext) return uidNext;
  const { rows } = await db.query<{ old: number }>(
    `UPDATE mailboxes m SET recent_uid = GREATEST(m.recent_uid, $2)
       FROM (SELECT recent_uid AS old FROM mailboxes WHERE id = $1 FOR UPDATE) o
      WHERE m.id = $1 RETURNING o.old`,
    [mailboxId, uidNext],
  );
  return rows[0] ? Math.min(rows[0].old, uidNext) : uidNext;
}

/** The first \Recent UID not yet claimed (EXAMINE looks without claiming). */
export async function recentFrom(db: Queryable, mailboxId: number): Promise<number> {
  const { rows } = await db.query<{ recent_uid: number }>("SELECT recent_uid FROM mailboxes WHERE id = $1", [
    mailboxId,
  ]);
  return rows[0]?.recent_uid ?? Number.MAX_SAFE_INTEGER;
}
