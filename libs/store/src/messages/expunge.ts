/**
 * EXPUNGE (RFC 9051 §6.4.3), UID EXPUNGE (RFC 4315) and POP3's UPDATE step:
 * message rows removed under the mailbox row lock, logged in the expunge log.
 */
import { recordExpungeSql } from "../changes/expunge-log.ts";
import { inMailboxLockStatement, type Pool, type PoolClient } from "../db.ts";
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
  return expungeLocked(tx, mailboxId, uids, opts, lock.rows[0]?.highestmodseq);
}

/**
 * expungeIn under the mailbox row lock the caller holds (`head` is the
 * HIGHESTMODSEQ it read, undefined when the mailbox is gone), in ONE statement:
 * the DELETE, and the expunge log's bookkeeping (changes/expunge-log.ts) over
 * the deleted rows. (Messages.expunge sends the lock and this statement as
 * one message instead: expungeOneTrip.)
 */
export async function expungeLocked(
  tx: PoolClient,
  mailboxId: number,
  uids: readonly number[] | "all",
  opts: { onlyDeleted?: boolean },
  head: number | undefined,
): Promise<{ uids: number[]; modseq: number }> {
  if (head === undefined) throw new MailboxNotFoundError(mailboxId);
  const { rows } = await tx.query<{ uids: number[] | null }>(expungeSql("$4"), [
    mailboxId,
    uids === "all" ? null : uids,
    opts.onlyDeleted ?? false,
    head + 1,
  ]);
  return expungeResult(rows[0]?.uids ?? [], head);
}

/**
 * expungeLocked in ONE round trip with no BEGIN/COMMIT (Messages.expunge):
 * the row lock and the statement as one implicit transaction (db.ts
 * inMailboxLockStatement), the statement's snapshot taken after the lock.
 */
export async function expungeOneTrip(
  db: Pool,
  mailboxId: number,
  uids: readonly number[] | "all",
  opts: { onlyDeleted?: boolean; durable?: boolean },
): Promise<{ uids: number[]; modseq: number }> {
  const { head, rows } = await inMailboxLockStatement<{ uids: number[] | null }>(
    db,
    mailboxId,
    (head) => expungeSql(`(${head} + 1)`),
    [mailboxId, uids === "all" ? null : uids, opts.onlyDeleted ?? false],
    ["integer", "bigint[]", "boolean"],
    { waitForFlush: opts.durable !== false },
  );
  if (head === undefined) throw new MailboxNotFoundError(mailboxId);
  return expungeResult(rows[0]?.uids ?? [], head);
}

/** The DELETE and the expunge log's CTEs: $1 mailbox, $2 UIDs (NULL: all), $3 only \Deleted; `modseq` as SQL. */
function expungeSql(modseq: string): string {
  return `WITH gone AS (
       DELETE FROM messages
        WHERE mailbox_id = $1 AND ($2::bigint[] IS NULL OR uid = ANY($2::bigint[]))
          AND (NOT $3 OR flags & ${DELETED} <> 0)
        RETURNING uid, size
     ), ${recordExpungeSql("gone", "$1", modseq)}
     SELECT (SELECT json_agg(uid ORDER BY uid) FROM gone) AS uids`;
}

function expungeResult(removed: number[], head: number): { uids: number[]; modseq: number } {
  if (removed.length === 0) return { uids: [], modseq: head };
  return { uids: removed, modseq: head + 1 };
}
