/**
 * RENAME (RFC 9051 §6.3.6), with children, and INBOX's special case.
 */
import { recordExpunge } from "../changes/expunge-log.ts";
import type { PoolClient } from "../db.ts";
import { HIERARCHY_DELIMITER, MailboxExistsError, normalizeMailboxName } from "./mailboxes.ts";

export class MailboxMissingError extends Error {
  constructor(readonly mailboxName: string) {
    super(`mailbox ${mailboxName} does not exist`);
    this.name = "MailboxMissingError";
  }
}

export interface RenameResult {
  /** Mailbox ids whose name changed (or, for INBOX, the new mailbox). */
  mailboxIds: number[];
  /** INBOX rename: the UIDs moved out of INBOX and the MODSEQ of that expunge. */
  inboxExpunge?: { inboxId: number; uids: number[]; modseq: number };
}

/**
 * RENAME: the mailbox and every inferior name move in one transaction
 * (RFC 9051 §6.3.6). Renaming INBOX instead creates `to`, moves INBOX's
 * messages into it (keeping their UIDs under the new UIDVALIDITY) and leaves
 * INBOX empty; INBOX's inferiors are not renamed.
 */
export async function renameIn(
  tx: PoolClient,
  accountId: number,
  from: string,
  to: string,
): Promise<RenameResult> {
  const source = normalizeMailboxName(from);
  const target = normalizeMailboxName(to);
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
    // The messages leave INBOX as by an expunge: its grantees' own \Seen of them
    // goes too (acl/private-seen.ts; those rows' key would also block the move).
    await tx.query("DELETE FROM mailbox_seen WHERE mailbox_id = $1", [row.id]);
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
    // INBOX keeps existing, emptied: its messages left it (the counters drop to zero).
    await recordExpunge(tx, row.id, uids, modseq, bytes);
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
}
