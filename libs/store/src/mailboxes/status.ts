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

/** What SELECT/EXAMINE needs of a mailbox, read from one snapshot (openForSelect). */
export interface SelectSnapshot {
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** Every message, ascending UID. */
  messages: { uid: number; flags: number; keywords: string[] }[];
  /** First \Recent UID for the session: what it claimed (claim) or what nobody has yet (look). */
  recentFrom: number;
}

/**
 * SELECT's reads in ONE statement (issue 17: they were four round trips): the
 * head, every message's UID and flags (one snapshot, so head and list agree:
 * anything committed later is above the head and reaches the view's next
 * sync), and the \Recent claim up to the head's UIDNEXT (`claim`, as
 * claimRecent makes it: under the row lock, only when something is left) or,
 * for EXAMINE, the first unclaimed UID without claiming. Undefined when the
 * mailbox does not exist.
 */
export async function openForSelect(
  db: Queryable,
  mailboxId: number,
  claim: boolean,
): Promise<SelectSnapshot | undefined> {
  const { rows } = await db.query<{
    uidvalidity: number;
    uidnext: number;
    highestmodseq: number;
    recent_uid: number;
    claimed_from: number | null;
    uid: number | null;
    flags: number | null;
    keywords: string[] | null;
  }>(
    named(
      `WITH b AS (
         SELECT id, uidvalidity, uidnext, highestmodseq, recent_uid FROM mailboxes WHERE id = $1
       ), claim AS (
         UPDATE mailboxes m SET recent_uid = b.uidnext
           FROM b, (SELECT recent_uid AS old FROM mailboxes WHERE id = $1 FOR UPDATE) o
          WHERE $2 AND m.id = $1 AND m.recent_uid < b.uidnext
          RETURNING o.old
       )
       SELECT b.uidvalidity, b.uidnext, b.highestmodseq, b.recent_uid,
              (SELECT old FROM claim) AS claimed_from, m.uid, m.flags, m.keywords
         FROM b LEFT JOIN messages m ON m.mailbox_id = b.id
        ORDER BY m.uid`,
      [mailboxId, claim],
    ),
  );
  const head = rows[0];
  if (!head) return undefined;
  const messages: SelectSnapshot["messages"] = [];
  for (const r of rows)
    if (r.uid !== null) messages.push({ uid: r.uid, flags: r.flags!, keywords: r.keywords! });
  const recentFrom = !claim
    ? head.recent_uid
    : head.claimed_from !== null
      ? Math.min(head.claimed_from, head.uidnext)
      : head.uidnext;
  return {
    uidValidity: head.uidvalidity,
    uidNext: head.uidnext,
    highestModseq: head.highestmodseq,
    messages,
    recentFrom,
  };
}

/** The first \Recent UID not yet claimed (EXAMINE looks without claiming). */
export async function recentFrom(db: Queryable, mailboxId: number): Promise<number> {
  const { rows } = await db.query<{ recent_uid: number }>("SELECT recent_uid FROM mailboxes WHERE id = $1", [
    mailboxId,
  ]);
  return rows[0]?.recent_uid ?? Number.MAX_SAFE_INTEGER;
}
