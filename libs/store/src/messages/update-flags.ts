/**
 * STORE: flag changes under the mailbox row lock (RFC 9051 §6.4.6, with
 * RFC 7162 UNCHANGEDSINCE). Only messages whose flags really change get the
 * new MODSEQ; the mailbox's keyword list grows with new keywords.
 */
import { type MessageChange, toChange } from "../changes/changes.ts";
import type { PoolClient } from "../db.ts";
import { MailboxNotFoundError } from "../mailboxes/mailboxes.ts";
import { addMailboxKeywords } from "./append.ts";
import { encodeFlags } from "./flags.ts";

export type FlagOperation = "set" | "add" | "remove";

export interface FlagUpdate {
  mailboxId: number;
  uids: readonly number[];
  operation: FlagOperation;
  flags: readonly string[];
  /** RFC 7162 UNCHANGEDSINCE: only messages whose MODSEQ is ≤ this are changed. */
  unchangedSince?: number;
}

export interface FlagUpdateResult {
  /** The new MODSEQ of the changed messages (unchanged when nothing changed). */
  modseq: number;
  updated: MessageChange[];
  /** UIDs that failed the UNCHANGEDSINCE test (RFC 7162 §3.1.3 MODIFIED). */
  modified: number[];
  /**
   * Every requested message still in the mailbox, as of this transaction's
   * commit (changed or not), by UID: what a STORE answers with. Read under the
   * mailbox row lock, so flags and MODSEQ are one consistent state even when
   * other sessions changed the message since this one last looked.
   */
  current: MessageChange[];
}

/** STORE: changes flags of the given UIDs; only messages whose flags really change get a new MODSEQ. */
/** STORE FLAGS / +FLAGS / -FLAGS as SQL over the row: $3 is the flag bits, $4 the keywords. */
const FLAG_UPDATE_SQL: Record<FlagOperation, { flags: string; keywords: string }> = {
  set: { flags: "$3::smallint", keywords: "$4::text[]" },
  add: {
    flags: "(flags | $3::smallint)",
    keywords: "(keywords || ARRAY(SELECT k FROM unnest($4::text[]) k WHERE NOT k = ANY(keywords)))",
  },
  remove: {
    flags: "(flags & ~$3::smallint)",
    keywords: "ARRAY(SELECT k FROM unnest(keywords) k WHERE NOT k = ANY($4::text[]))",
  },
};

export async function updateFlagsIn(tx: PoolClient, u: FlagUpdate): Promise<FlagUpdateResult> {
  const { bits, keywords } = encodeFlags(u.flags);
  // New flag bits and keywords per operation, as SQL over the row's current values.
  const { flags: newFlags, keywords: newKeywords } = FLAG_UPDATE_SQL[u.operation];
  const lock = await tx.query<{ highestmodseq: number }>(
    "SELECT highestmodseq FROM mailboxes WHERE id = $1 FOR UPDATE",
    [u.mailboxId],
  );
  if (!lock.rows[0]) throw new MailboxNotFoundError(u.mailboxId);
  const modseq = lock.rows[0].highestmodseq + 1;
  let modified: number[] = [];
  if (u.unchangedSince !== undefined) {
    const m = await tx.query<{ uid: number }>(
      "SELECT uid FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) AND modseq > $3 ORDER BY uid",
      [u.mailboxId, u.uids, u.unchangedSince],
    );
    modified = m.rows.map((r) => r.uid);
  }
  const { rows } = await tx.query<MessageChange>(
    `UPDATE messages SET flags = ${newFlags}, keywords = ${newKeywords}, modseq = $5
      WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])
        AND ($6::bigint IS NULL OR modseq <= $6)
        AND (flags <> ${newFlags} OR keywords <> ${newKeywords})
      RETURNING uid, modseq, flags, keywords`,
    [u.mailboxId, u.uids, bits, keywords, modseq, u.unchangedSince ?? null],
  );
  const current = await tx.query<MessageChange>(
    "SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid",
    [u.mailboxId, u.uids],
  );
  const state = current.rows.map(toChange);
  if (rows.length === 0) return { modseq: lock.rows[0].highestmodseq, updated: [], modified, current: state };
  await tx.query("UPDATE mailboxes SET highestmodseq = $2 WHERE id = $1", [u.mailboxId, modseq]);
  if (u.operation !== "remove" && keywords.length) await addMailboxKeywords(tx, u.mailboxId, keywords);
  rows.sort((a, b) => a.uid - b.uid);
  return { modseq, updated: rows.map(toChange), modified, current: state };
}
