/**
 * STATUS counts (RFC 9051 §6.3.11) and \Recent claiming (RFC 3501 §2.3.2):
 * mailboxes.recent_uid is the first UID no session has claimed yet.
 */
import { named, type Queryable } from "../db.ts";
import { DELETED, SEEN } from "../messages/flags.ts";
import { normalizeMailboxName } from "./mailboxes.ts";

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

/** STATUS counts, the row's id and name, and (when asked) the HIGHESTMODSEQ of the session's selected mailbox. */
export type MailboxStatusWithHead = MailboxStatusCounts & {
  id: number;
  name: string;
  watchedModseq?: number;
};

/**
 * STATUS items in one row read plus one index scan (RFC 9051 §6.3.11). With
 * `watchId` (the session's selected mailbox) its HIGHESTMODSEQ comes back in
 * the same statement, as `watchedModseq`, so the session's sync needs no query.
 */
export function mailboxStatus(
  db: Queryable,
  mailboxId: number,
  watchId?: number,
): Promise<MailboxStatusWithHead | undefined> {
  return statusWhere(db, "b.id = $1", [mailboxId], watchId);
}

/**
 * STATUS of a mailbox named by the client, in the same one statement: the name
 * lookup is the row read (STATUS costs one round trip, not a lookup and a count).
 */
export function mailboxStatusByName(
  db: Queryable,
  accountId: number,
  name: string,
  watchId?: number,
): Promise<MailboxStatusWithHead | undefined> {
  return statusWhere(
    db,
    "b.account_id = $1 AND b.name = $3",
    [accountId, normalizeMailboxName(name)],
    watchId,
  );
}

async function statusWhere(
  db: Queryable,
  where: string,
  params: [number] | [number, string],
  watchId: number | undefined,
): Promise<MailboxStatusWithHead | undefined> {
  const { rows } = await db.query<{
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
    named(
      `SELECT b.id, b.name, b.message_count, b.total_size, b.uidnext, b.uidvalidity, b.highestmodseq,
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.uid >= b.recent_uid) AS recent,
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & ${SEEN} = 0) AS unseen,
            (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.flags & ${DELETED} <> 0) AS deleted,
            (SELECT w.highestmodseq FROM mailboxes w WHERE w.id = $2) AS watched
       FROM mailboxes b WHERE ${where}`,
      params.length === 1 ? [params[0], watchId ?? null] : [params[0], watchId ?? null, params[1]],
    ),
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
export async function claimRecent(db: Queryable, mailboxId: number, uidNext: number): Promise<number> {
  // One statement: the row is locked and written only when something is left to
  // claim; the common case (nothing new since the last claim) matches no row.
  const { rows } = await db.query<{ old: number }>(
    named(
      `UPDATE mailboxes m SET recent_uid = $2
         FROM (SELECT recent_uid AS old FROM mailboxes WHERE id = $1 FOR UPDATE) o
        WHERE m.id = $1 AND m.recent_uid < $2 RETURNING o.old`,
      [mailboxId, uidNext],
    ),
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
