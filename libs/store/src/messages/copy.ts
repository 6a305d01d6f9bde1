/**
 * COPY and MOVE in one transaction each (RFC 9051 §6.4.7, RFC 4315 COPYUID,
 * RFC 6851 MOVE): both mailbox rows locked in id order, the destination's UIDs
 * allocated like an append, MOVE's source side logged in the expunge log.
 */
import { recordExpunge } from "../changes/expunge-log.ts";
import type { PoolClient } from "../db.ts";
import { MailboxNotFoundError } from "../mailboxes/mailboxes.ts";
import { accountUsage, QuotaExceededError } from "../quota/quota.ts";
import { copySearchRows } from "../search/rows.ts";

export interface CopyResult {
  uidValidity: number;
  /** Source UIDs copied, ascending, and their new UIDs in the same order. */
  sourceUids: number[];
  destinationUids: number[];
  destinationModseq: number;
  accountId: number;
  /** MOVE only: the MODSEQ at which the source messages were expunged. */
  sourceModseq?: number;
}

export async function copyIn(
  tx: PoolClient,
  sourceId: number,
  uids: readonly number[],
  destinationId: number,
  quotaBytes: number | null,
  move: boolean,
): Promise<CopyResult> {
  // Lock both mailbox rows in id order, like every other multi-mailbox writer.
  const locked = await tx.query<{ id: number; account_id: number; highestmodseq: number }>(
    "SELECT id, account_id, highestmodseq FROM mailboxes WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE",
    [[sourceId, destinationId]],
  );
  const source = locked.rows.find((r) => r.id === sourceId);
  if (!source) throw new MailboxNotFoundError(sourceId);
  if (!locked.rows.some((r) => r.id === destinationId)) throw new MailboxNotFoundError(destinationId);
  const picked = await tx.query<{ n: string; bytes: string | null }>(
    "SELECT count(*) AS n, sum(size) AS bytes FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])",
    [sourceId, uids],
  );
  const count = Number(picked.rows[0]!.n);
  const bytes = Number(picked.rows[0]!.bytes ?? 0);
  // Quota is the destination owner's (a shared mailbox counts against its owner);
  // a MOVE within one account adds nothing to its usage.
  const destinationAccount = locked.rows.find((r) => r.id === destinationId)!.account_id;
  if (quotaBytes !== null && (!move || destinationAccount !== source.account_id)) {
    const used = await accountUsage(tx, destinationAccount);
    if (used.bytes + bytes > quotaBytes) throw new QuotaExceededError();
  }
  const dest = await tx.query<{ uidvalidity: number; first_uid: number; modseq: number; account_id: number }>(
    `UPDATE mailboxes SET uidnext = uidnext + $2, highestmodseq = highestmodseq + 1,
            message_count = message_count + $2, total_size = total_size + $3,
            keywords = keywords || ARRAY(
              SELECT DISTINCT k FROM messages m, unnest(m.keywords) k
               WHERE m.mailbox_id = $4 AND m.uid = ANY($5::bigint[]) AND NOT k = ANY(mailboxes.keywords))
      WHERE id = $1
      RETURNING uidvalidity, uidnext - $2 AS first_uid, highestmodseq AS modseq, account_id`,
    [destinationId, count, bytes, sourceId, uids],
  );
  const d = dest.rows[0]!;
  const inserted = await tx.query<{ src: number; uid: number }>(
    `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_key,
                           envelope, body_structure, body, mime, header_date, subject, from_addr, to_addr,
                           cc_addr, bcc_addr, message_id, in_reply_to, preview, email_id, thread_id)
     SELECT $1, $2 + row_number() OVER (ORDER BY uid) - 1, $3, flags, keywords, internal_date, size, blob_key,
            envelope, body_structure, body, mime, header_date, subject, from_addr, to_addr,
            cc_addr, bcc_addr, message_id, in_reply_to, preview, email_id, thread_id
       FROM messages WHERE mailbox_id = $4 AND uid = ANY($5::bigint[])
     RETURNING uid`,
    [destinationId, d.first_uid, d.modseq, sourceId, uids],
  );
  const sourceRows = await tx.query<{ uid: number }>(
    "SELECT uid FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid",
    [sourceId, uids],
  );
  const sourceUids = sourceRows.rows.map((r) => r.uid);
  const destinationUids = inserted.rows.map((r) => r.uid).sort((a, b) => a - b);
  const result: CopyResult = {
    uidValidity: d.uidvalidity,
    sourceUids,
    destinationUids,
    destinationModseq: d.modseq,
    accountId: d.account_id,
  };
  // The copies keep their search rows (and, above, EMAILID/THREADID: RFC 8474 §5.1).
  await copySearchRows(tx, sourceId, sourceUids, destinationId, destinationUids);
  if (move && sourceUids.length) {
    const modseq = source.highestmodseq + (sourceId === destinationId ? 2 : 1);
    await tx.query("DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])", [
      sourceId,
      sourceUids,
    ]);
    await recordExpunge(tx, sourceId, sourceUids, modseq, bytes);
    result.sourceModseq = modseq;
  }
  return result;
}
