/**
 * EXPUNGE (RFC 9051 §6.4.3), UID EXPUNGE (RFC 4315) and POP3's UPDATE step:
 * message rows removed under the mailbox row lock, logged in the expunge log.
 */
import { recordExpunge } from "../changes/expunge-log.ts";
import type { PoolClient } from "../db.ts";
import { MailboxNotFoundError } from "../mailboxes/mailboxes.ts";
import { DELETED } from "./flags.ts";

/**
 * Removes messages and logs each UID in the expunge log at one new MODSEQ.
 * With `onlyDeleted`, only those flagged \Deleted (IMAP EXPUNGE / UID EXPUNGE).
 * Returns the expunged UIDs ascending and the MODSEQ (unchanged if none).
 */
export async function expungeIn(
  tx: PoolClient,
  mailboxId: number,
  uids: readonly number[] | "all",
  opts: { onlyDeleted?: boolean } = {},
): Promise<{ uids: number[]; modseq: number }> {
  const lock = await tx.query<{ highestmodseq: number }>(
    "SELECT highestmodseq FROM mailboxes WHERE id = $1 FOR UPDATE",
    [mailboxId],
  );
  if (!lock.rows[0]) throw new MailboxNotFoundError(mailboxId);
  const modseq = lock.rows[0].highestmodseq + 1;
  const { rows } = await tx.query<{ uid: number; size: number; flags: number }>(
    `DELETE FROM messages
      WHERE mailbox_id = $1 AND ($2::bigint[] IS NULL OR uid = ANY($2::bigint[]))
        AND (NOT $3 OR flags & ${DELETED} <> 0)
      RETURNING uid, size, flags`,
    [mailboxId, uids === "all" ? null : uids, opts.onlyDeleted ?? false],
  );
  if (rows.length === 0) return { uids: [], modseq: lock.rows[0].highestmodseq };
  const removed = rows.map((r) => r.uid).sort((a, b) => a - b);
  const bytes = rows.reduce((s, r) => s + r.size, 0);
  await recordExpunge(tx, mailboxId, removed, modseq, bytes);
  return { uids: removed, modseq };
}
