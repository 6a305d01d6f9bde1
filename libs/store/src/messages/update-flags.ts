/**
 * STORE: flag changes under the mailbox row lock (RFC 9051 §6.4.6, with
 * RFC 7162 UNCHANGEDSINCE). Only messages whose flags really change get the
 * new MODSEQ; the mailbox's keyword list grows with new keywords.
 */
import type { MessageChange } from "../changes/changes.ts";
import { inMailboxLockStatement, type Pool, type PoolClient } from "../db.ts";
import { MailboxNotFoundError } from "../mailboxes/mailboxes.ts";
import { mailboxKeywordsAddSql } from "./append.ts";
import { encodeFlags } from "./flags.ts";

export type FlagOperation = "set" | "add" | "remove";

export interface FlagUpdate {
  mailboxId: number;
  uids: readonly number[];
  operation: FlagOperation;
  flags: readonly string[];
  /** RFC 7162 UNCHANGEDSINCE: only messages whose MODSEQ is ≤ this are changed. */
  unchangedSince?: number;
  /** false: commit without waiting for the WAL flush (db.ts CommitOptions); default true. */
  durable?: boolean;
  /**
   * A replacing STORE ("set") leaves these alone: the system-flag `bits` keep
   * their current value, and with `keywords` the keywords too. For flags the
   * caller has no right to change (RFC 4314 §4) and for a reader's private
   * \Seen (acl/private-seen.ts), which is not the message's flag.
   */
  preserve?: { bits: number; keywords: boolean };
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

/**
 * STORE as a step of the caller's transaction: takes the mailbox row lock,
 * then updateFlagsLocked. (Messages.updateFlags takes the lock with BEGIN
 * instead, db.ts withMailboxLock: one round trip fewer.)
 */
export async function updateFlagsIn(tx: PoolClient, u: FlagUpdate): Promise<FlagUpdateResult> {
  const lock = await tx.query<{ highestmodseq: number }>(
    "SELECT highestmodseq FROM mailboxes WHERE id = $1 FOR UPDATE",
    [u.mailboxId],
  );
  return updateFlagsLocked(tx, u, lock.rows[0]?.highestmodseq);
}

/**
 * STORE under the mailbox row lock the caller holds (`head` is the HIGHESTMODSEQ
 * it read, undefined when the mailbox is gone), in ONE statement: the MODIFIED
 * test, the update, the mailbox's new HIGHESTMODSEQ (and keywords) when
 * something changed, and every requested message's state after it. Its
 * snapshot is taken after the lock, so the rows it didn't change are current too.
 */
export async function updateFlagsLocked(
  tx: PoolClient,
  u: FlagUpdate,
  head: number | undefined,
): Promise<FlagUpdateResult> {
  if (head === undefined) throw new MailboxNotFoundError(u.mailboxId);
  const { bits, keywords } = encodeFlags(u.flags);
  const { rows } = await tx.query<FlagUpdateRow>(flagUpdateSql(u, keywords, "$5"), [
    u.mailboxId,
    u.uids,
    bits,
    keywords,
    head + 1,
    u.unchangedSince ?? null,
  ]);
  return flagUpdateResult(rows[0]!, head);
}

/**
 * STORE in ONE round trip with no BEGIN/COMMIT (Messages.updateFlags): the
 * row lock and updateFlagsLocked's statement as one implicit transaction
 * (db.ts inMailboxLockStatement); the statement's snapshot is taken after the
 * lock, so `current` is as of the lock, exactly as in the transaction form.
 */
export async function updateFlagsOneTrip(db: Pool, u: FlagUpdate): Promise<FlagUpdateResult> {
  const { bits, keywords } = encodeFlags(u.flags);
  const { head, rows } = await inMailboxLockStatement<FlagUpdateRow>(
    db,
    u.mailboxId,
    (head) => flagUpdateSql(u, keywords, `(${head} + 1)`),
    [u.mailboxId, u.uids, bits, keywords, null, u.unchangedSince ?? null],
    ["integer", "bigint[]", "integer", "text[]", "bigint", "bigint"],
    { waitForFlush: u.durable !== false },
  );
  if (head === undefined) throw new MailboxNotFoundError(u.mailboxId);
  return flagUpdateResult(rows[0]!, head);
}

type Change = [number, number, number, string[]];
interface FlagUpdateRow {
  updated: Change[] | null;
  modified: number[] | null;
  current: Change[] | null;
}

/**
 * The one statement: the MODIFIED test, the update, the mailbox's new
 * HIGHESTMODSEQ (and keywords) when something changed, and every requested
 * message's state after it. $1 mailbox, $2 UIDs, $3 flag bits, $4 keywords,
 * $6 UNCHANGEDSINCE; `modseq` is the new MODSEQ as SQL.
 */
function flagUpdateSql(u: FlagUpdate, keywords: readonly string[], modseq: string): string {
  // New flag bits and keywords per operation, as SQL over the row's current values.
  let { flags: newFlags, keywords: newKeywords } = FLAG_UPDATE_SQL[u.operation];
  const keep = u.operation === "set" ? u.preserve : undefined;
  // Inlined as integers (| 0): only flag bits, never client text.
  if (keep?.bits)
    newFlags = `(($3::smallint & ~(${keep.bits | 0})::smallint) | (flags & (${keep.bits | 0})::smallint))`;
  // (coalesce: keywords is never null; $4 must still appear for PostgreSQL to type it.)
  if (keep?.keywords) newKeywords = "coalesce(keywords, $4::text[])";
  const addKeywords = u.operation !== "remove" && keywords.length > 0 && !keep?.keywords;
  return `WITH modified AS (
       SELECT uid FROM messages
        WHERE $6::bigint IS NOT NULL AND mailbox_id = $1 AND uid = ANY($2::bigint[]) AND modseq > $6
     ), upd AS (
       UPDATE messages SET flags = ${newFlags}, keywords = ${newKeywords}, modseq = ${modseq}
        WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])
          AND ($6::bigint IS NULL OR modseq <= $6)
          AND (flags <> ${newFlags} OR keywords <> ${newKeywords})
        RETURNING uid, modseq, flags, keywords
     ), bump AS (
       UPDATE mailboxes SET highestmodseq = ${modseq}${addKeywords ? `, keywords = ${mailboxKeywordsAddSql("$4")}` : ""}
        WHERE id = $1 AND EXISTS (SELECT 1 FROM upd)
     )
     SELECT (SELECT json_agg(json_build_array(uid, modseq, flags, keywords) ORDER BY uid) FROM upd) AS updated,
            (SELECT json_agg(uid ORDER BY uid) FROM modified) AS modified,
            (SELECT json_agg(json_build_array(m.uid, coalesce(c.modseq, m.modseq), coalesce(c.flags, m.flags),
                                              coalesce(c.keywords, m.keywords)) ORDER BY m.uid)
               FROM messages m LEFT JOIN upd c ON c.uid = m.uid
              WHERE m.mailbox_id = $1 AND m.uid = ANY($2::bigint[])) AS current`;
}

function flagUpdateResult(r: FlagUpdateRow, head: number): FlagUpdateResult {
  const toChanges = (list: Change[] | null): MessageChange[] =>
    (list ?? []).map(([uid, m, flags, kw]) => ({ uid, modseq: m, flags, keywords: kw }));
  const updated = toChanges(r.updated);
  const state = toChanges(r.current);
  const modified = r.modified ?? [];
  if (updated.length === 0) return { modseq: head, updated: [], modified, current: state };
  return { modseq: head + 1, updated, modified, current: state };
}
