/**
 * The change log: every message row carries the MODSEQ of its last change
 * (messages.modseq), removals are in the expunge log (expunge-log.ts), and the
 * mailbox row's HIGHESTMODSEQ is the newest of both. "What changed since
 * MODSEQ m" is what every IMAP command asks before it answers.
 */
import { named, type Queryable } from "../db.ts";
import { MailboxNotFoundError } from "../mailboxes/mailboxes.ts";

export interface MessageChange {
  uid: number;
  modseq: number;
  flags: number;
  keywords: string[];
}

export interface MailboxChanges {
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** Messages added or whose flags changed after the given MODSEQ, by UID. */
  changed: MessageChange[];
  /** UIDs expunged after the given MODSEQ, ascending. */
  expunged: number[];
}

export function toChange(r: {
  uid: number;
  modseq: number;
  flags: number;
  keywords: string[];
}): MessageChange {
  return { uid: r.uid, modseq: r.modseq, flags: r.flags, keywords: r.keywords };
}

/**
 * What changed in a mailbox after MODSEQ `since`, in ONE round trip (every
 * IMAP command asks): the mailbox row's primary-key read, and only when its
 * HIGHESTMODSEQ moved past `since` the two index range scans (messages by
 * MODSEQ, the expunge log), aggregated into the same row. One statement sees
 * one snapshot, so head and changes agree.
 */
export async function changesSince(db: Queryable, mailboxId: number, since: number): Promise<MailboxChanges> {
  const { rows } = await db.query<{
    uidvalidity: number;
    uidnext: number;
    highestmodseq: number;
    changed: [number, number, number, string[]][] | null;
    expunged: number[] | null;
  }>(
    named(
      `SELECT b.uidvalidity, b.uidnext, b.highestmodseq,
            CASE WHEN b.highestmodseq > $2 THEN
              (SELECT json_agg(json_build_array(m.uid, m.modseq, m.flags, m.keywords) ORDER BY m.uid)
                 FROM messages m WHERE m.mailbox_id = b.id AND m.modseq > $2) END AS changed,
            CASE WHEN b.highestmodseq > $2 THEN
              (SELECT json_agg(e.uid ORDER BY e.uid)
                 FROM expunged e WHERE e.mailbox_id = b.id AND e.modseq > $2) END AS expunged
       FROM mailboxes b WHERE b.id = $1`,
      [mailboxId, since],
    ),
  );
  const h = rows[0];
  if (!h) throw new MailboxNotFoundError(mailboxId);
  return {
    uidValidity: h.uidvalidity,
    uidNext: h.uidnext,
    highestModseq: h.highestmodseq,
    changed: (h.changed ?? []).map(([uid, modseq, flags, keywords]) => ({ uid, modseq, flags, keywords })),
    expunged: h.expunged ?? [],
  };
}
