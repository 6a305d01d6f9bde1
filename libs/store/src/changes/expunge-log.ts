/**
 * The expunge log (table `expunged`): which UIDs left a mailbox at which
 * MODSEQ, so a client that last saw MODSEQ m learns of the removals since
 * (RFC 7162 QRESYNC VANISHED, and every session's own EXPUNGE responses).
 *
 * Every removal of message rows goes through recordExpunge (or its CTE form
 * recordExpungeSql, for EXPUNGE's one-statement DELETE), in the same
 * transaction as the DELETE and under the mailbox row lock: EXPUNGE, MOVE's
 * source side, the INBOX rename and POP3's UPDATE alike.
 */
import type { Queryable } from "../db.ts";

/**
 * Logs `uids` as expunged at `modseq` and updates the mailbox row to match:
 * HIGHESTMODSEQ = modseq, and the message count and total size less the
 * removed messages. The caller holds the mailbox row lock, has deleted (or
 * moved away) the rows, and allocated `modseq` above the row's HIGHESTMODSEQ.
 */
export async function recordExpunge(
  tx: Queryable,
  mailboxId: number,
  uids: readonly number[],
  modseq: number,
  bytes: number,
): Promise<void> {
  if (uids.length) {
    await tx.query(
      `INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, uid, $3 FROM unnest($2::bigint[]) uid
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq`,
      [mailboxId, uids, modseq],
    );
  }
  await tx.query(
    `UPDATE mailboxes SET highestmodseq = $2, message_count = message_count - $3, total_size = total_size - $4
      WHERE id = $1`,
    [mailboxId, modseq, uids.length, bytes],
  );
}

/**
 * recordExpunge as CTEs of the caller's statement (EXPUNGE's one-statement
 * DELETE, messages/expunge.ts): the log rows and the mailbox row's update for
 * the rows of CTE `gone` (columns uid, size), with `mailbox` and `modseq` as
 * SQL parameters. The mailbox row is left alone when `gone` is empty.
 */
export function recordExpungeSql(gone: string, mailbox: string, modseq: string): string {
  return `logged AS (
       INSERT INTO expunged (mailbox_id, uid, modseq) SELECT ${mailbox}, uid, ${modseq} FROM ${gone}
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq
     ), bump AS (
       UPDATE mailboxes SET highestmodseq = ${modseq},
              message_count = message_count - (SELECT count(*) FROM ${gone}),
              total_size = total_size - (SELECT coalesce(sum(size), 0) FROM ${gone})
        WHERE id = ${mailbox} AND EXISTS (SELECT 1 FROM ${gone})
     )`;
}
