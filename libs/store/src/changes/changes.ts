/**
 * The change log: every message row carries the MODSEQ of its last change
 * (messages.modseq), removals are in the expunge log (expunge-log.ts), and the
 * mailbox row's HIGHESTMODSEQ is the newest of both. "What changed since
 * MODSEQ m" is what every IMAP command asks before it answers.
 */
import type { Queryable } from "../db.ts";
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
 * What changed in a mailbox after MODSEQ `since`: one indexed row read when
 * nothing did (the common case, asked by every IMAP command), plus two
 * index range scans when something did.
 */
export async function changesSince(db: Queryable, mailboxId: number, since: number): Promise<MailboxChanges> {
  const head = await db.query<{ uidvalidity: number; uidnext: number; highestmodseq: number }>(
    "SELECT uidvalidity, uidnext, highestmodseq FROM mailboxes WHERE id = $1",
    [mailboxId],
  );
  const h = head.rows[0];
  if (!h) throw new MailboxNotFoundError(mailboxId);
  const base = { uidValidity: h.uidvalidity, uidNext: h.uidnext, highestModseq: h.highestmodseq };
  if (h.highestmodseq <= since) return { ...base, changed: [], expunged: [] };
  const [changed, expunged] = await Promise.all([
    db.query<MessageChange>(
      "SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
      [mailboxId, since],
    ),
    db.query<{ uid: number }>("SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid", [
      mailboxId,
      since,
    ]),
  ]);
  return { ...base, changed: changed.rows.map(toChange), expunged: expunged.rows.map((r) => r.uid) };
}
