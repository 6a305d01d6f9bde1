/**
 * Per-user \Seen on shared mailboxes (issue 24; migration 090): the owner of a
 * mailbox keeps the real flag (messages.flags bit 1); every other reader of it
 * (a grantee of another user's mailbox, every user of a Shared/ folder) has its
 * own \Seen in mailbox_seen, unless the mailbox is set to `seen_shared`, when
 * everyone shares the real flag. Dovecot does the same with INDEXPVT (the
 * private index holds \Seen per user), Cyrus with its per-user seen state.
 *
 * MODSEQ (RFC 7162): a reader's \Seen change takes the next value of the
 * mailbox's one counter (mailboxes.highestmodseq) under the mailbox row lock,
 * like any flag change, and the row keeps it; the reader's MODSEQ of a message
 * is greatest(messages.modseq, mailbox_seen.modseq). So the reader's sessions
 * see the change (their CHANGEDSINCE and sync scan both), and other users don't:
 * for them HIGHESTMODSEQ moved with nothing changed, which RFC 7162 allows (it
 * only needs the value to grow when something changes), as after an expunge.
 * One counter keeps every MODSEQ a reader sees ordered; a counter per reader
 * could not be merged with the message's.
 */

import type { MessageChange } from "../changes/changes.ts";
import { type Pool, type PoolClient, withMailboxLock } from "../db.ts";
import { MailboxNotFoundError } from "../mailboxes/mailboxes.ts";
import { SEEN } from "../messages/flags.ts";
import { type FlagUpdate, type FlagUpdateResult, updateFlagsLocked } from "../messages/update-flags.ts";

/** A reader's \Seen of one message and the MODSEQ of its last change. */
export interface PrivateSeenState {
  uid: number;
  seen: boolean;
  modseq: number;
}

/** The SQL test "this reader has its own \Seen here": $2 is the reader's account id. */
const PRIVATE_FOR = "(b.account_id <> $2 AND NOT b.seen_shared)";

export class PrivateSeen {
  constructor(private readonly pool: Pool) {}

  /**
   * Whether `accountId` has its own \Seen in the mailbox and, when it has, the
   * UIDs it has seen (ascending): what SELECT and SEARCH SEEN/UNSEEN need, one read.
   */
  async readerState(mailboxId: number, accountId: number): Promise<{ private: boolean; seen: number[] }> {
    const { rows } = await this.pool.query<{ private: boolean; seen: number[] | null }>(
      `SELECT ${PRIVATE_FOR} AS private,
              CASE WHEN ${PRIVATE_FOR} THEN
                (SELECT array_agg(s.uid ORDER BY s.uid) FROM mailbox_seen s
                  WHERE s.account_id = $2 AND s.mailbox_id = b.id AND s.seen) END AS seen
         FROM mailboxes b WHERE b.id = $1`,
      [mailboxId, accountId],
    );
    const r = rows[0];
    if (!r) throw new MailboxNotFoundError(mailboxId);
    return { private: r.private, seen: (r.seen ?? []).map(Number) };
  }

  /** The reader's unseen count (STATUS UNSEEN), or null when the mailbox has no private \Seen for it. */
  async unseenCount(mailboxId: number, accountId: number): Promise<number | null> {
    const { rows } = await this.pool.query<{ unseen: string | null }>(
      `SELECT CASE WHEN ${PRIVATE_FOR} THEN
                b.message_count - (SELECT count(*) FROM mailbox_seen s
                                    WHERE s.account_id = $2 AND s.mailbox_id = b.id AND s.seen) END AS unseen
         FROM mailboxes b WHERE b.id = $1`,
      [mailboxId, accountId],
    );
    const v = rows[0]?.unseen;
    return v === null || v === undefined ? null : Number(v);
  }

  /**
   * The reader's rows for these UIDs and those changed after MODSEQ `since`
   * (pass -1 for none by MODSEQ): what a FETCH (its rows) and a sync (the
   * changes) overlay on the messages' own flags.
   */
  async states(
    mailboxId: number,
    accountId: number,
    uids: readonly number[],
    since = -1,
  ): Promise<PrivateSeenState[]> {
    const { rows } = await this.pool.query<{ uid: string; seen: boolean; modseq: string }>(
      `SELECT uid, seen, modseq FROM mailbox_seen
        WHERE account_id = $2 AND mailbox_id = $1
          AND (uid = ANY($3::bigint[]) OR ($4::bigint >= 0 AND modseq > $4))
        ORDER BY uid`,
      [mailboxId, accountId, uids, since],
    );
    return rows.map((r) => ({ uid: Number(r.uid), seen: r.seen, modseq: Number(r.modseq) }));
  }

  /** `seen_shared`: true makes \Seen common to every reader (the real flag); false gives each reader its own. */
  async setShared(mailboxId: number, shared: boolean): Promise<boolean> {
    const { rowCount } = await this.pool.query("UPDATE mailboxes SET seen_shared = $2 WHERE id = $1", [
      mailboxId,
      shared,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async isShared(mailboxId: number): Promise<boolean> {
    const { rows } = await this.pool.query<{ seen_shared: boolean }>(
      "SELECT seen_shared FROM mailboxes WHERE id = $1",
      [mailboxId],
    );
    if (!rows[0]) throw new MailboxNotFoundError(mailboxId);
    return rows[0].seen_shared;
  }

  /**
   * A reader's STORE (or FETCH's implicit \Seen) on a mailbox where its \Seen is
   * private, in ONE transaction under the mailbox row lock: the flags other than
   * \Seen change the message (the real \Seen is kept), \Seen changes the
   * reader's row; both take the same new MODSEQ. The result is the reader's
   * view, as updateFlags gives the owner's: flags with the reader's \Seen,
   * MODSEQ the greater of the two. `changeSeen` false leaves the reader's \Seen
   * alone (a replacing STORE without the "s" right).
   *
   * UNCHANGEDSINCE (RFC 7162 §3.1.3) compares the reader's MODSEQ: a message
   * whose private row is newer is MODIFIED and nothing of it is changed.
   */
  update(u: FlagUpdate & { accountId: number; changeSeen: boolean }): Promise<FlagUpdateResult> {
    const wantsSeen = u.flags.some((f) => f.toLowerCase() === "\\seen");
    const others = u.flags.filter((f) => f.toLowerCase() !== "\\seen");
    return withMailboxLock(
      this.pool,
      u.mailboxId,
      async (tx, head) => {
        if (head === undefined) throw new MailboxNotFoundError(u.mailboxId);
        let uids = [...u.uids];
        const modifiedHere: number[] = [];
        if (u.unchangedSince !== undefined) {
          // The reader's MODSEQ: the message's or its own row's, whichever is newer.
          const newer = await tx.query<{ uid: string }>(
            `SELECT m.uid FROM messages m
             LEFT JOIN mailbox_seen s ON s.mailbox_id = m.mailbox_id AND s.uid = m.uid AND s.account_id = $2
            WHERE m.mailbox_id = $1 AND m.uid = ANY($3::bigint[]) AND greatest(m.modseq, s.modseq) > $4`,
            [u.mailboxId, u.accountId, uids, u.unchangedSince],
          );
          for (const r of newer.rows) modifiedHere.push(Number(r.uid));
          const skip = new Set(modifiedHere);
          uids = uids.filter((uid) => !skip.has(uid));
        }
        // The message's own flags, with its real \Seen untouched ("set" preserves
        // it). A STORE of \Seen alone (and FETCH's implicit \Seen) has none to write.
        const preserve = u.operation === "set" ? (u.preserve ?? { bits: 0, keywords: false }) : undefined;
        const real =
          others.length > 0 || preserve
            ? await updateFlagsLocked(
                tx,
                {
                  ...u,
                  uids,
                  flags: others,
                  ...(preserve
                    ? { preserve: { bits: preserve.bits | SEEN, keywords: preserve.keywords } }
                    : {}),
                },
                head,
              )
            : { updated: [], modified: [] };
        const modifiedSet = new Set(real.modified);
        const live = uids.filter((uid) => !modifiedSet.has(uid));
        const mine = await readerSeenStatement(
          tx,
          u.mailboxId,
          u.accountId,
          live,
          u.changeSeen && (wantsSeen || u.operation === "set") ? live : [],
          u.operation === "remove" ? false : wantsSeen,
          head + 1,
        );
        // MODIFIED messages get no answer (store.ts), so `current` need not hold them.
        const changed = new Set([...real.updated.map((c) => c.uid), ...mine.changed]);
        const modified = [...modifiedHere, ...real.modified].sort((a, b) => a - b);
        return {
          modseq: changed.size ? head + 1 : head,
          updated: mine.current.filter((c) => changed.has(c.uid)),
          modified,
          current: mine.current,
        };
      },
      // IMAP_DURABLE_FLAG_WRITES, as Messages.updateFlags honours it (in the BEGIN message).
      { waitForFlush: u.durable !== false },
    );
  }
}

/**
 * ONE statement (the caller holds the mailbox row lock): sets the reader's
 * \Seen of `target` to `seen` where it differs, with MODSEQ `modseq` (and the
 * mailbox's HIGHESTMODSEQ to it when anything changed), and reads every `uids`
 * message as the reader sees it: its flags with the reader's \Seen, the
 * greater MODSEQ. The statement's snapshot is taken after the caller's earlier
 * statements in the transaction (the other flags' update), so that state is
 * current; its own insert is not visible to its read, so the changed rows are
 * applied from what it returned.
 */
async function readerSeenStatement(
  tx: PoolClient,
  mailboxId: number,
  accountId: number,
  uids: readonly number[],
  target: readonly number[],
  seen: boolean,
  modseq: number,
): Promise<{ changed: number[]; current: MessageChange[] }> {
  if (uids.length === 0) return { changed: [], current: [] };
  const { rows } = await tx.query<{
    changed: number[] | null;
    current: [number, number, number, string[], boolean | null, number | null][] | null;
  }>(
    `WITH cur AS (
       SELECT m.uid, m.modseq, m.flags, m.keywords, s.seen, s.modseq AS seen_modseq
         FROM messages m
         LEFT JOIN mailbox_seen s ON s.mailbox_id = m.mailbox_id AND s.uid = m.uid AND s.account_id = $2
        WHERE m.mailbox_id = $1 AND m.uid = ANY($3::bigint[])
     ), ch AS (
       INSERT INTO mailbox_seen (mailbox_id, uid, account_id, seen, modseq)
       SELECT $1, uid, $2, $4::boolean, $5 FROM cur
        WHERE uid = ANY($6::bigint[]) AND coalesce(seen, false) <> $4::boolean
       ON CONFLICT (mailbox_id, uid, account_id) DO UPDATE SET seen = EXCLUDED.seen, modseq = EXCLUDED.modseq
       RETURNING uid
     ), bump AS (
       UPDATE mailboxes SET highestmodseq = greatest(highestmodseq, $5)
        WHERE id = $1 AND EXISTS (SELECT 1 FROM ch)
     )
     SELECT (SELECT json_agg(uid ORDER BY uid) FROM ch) AS changed,
            (SELECT json_agg(json_build_array(uid, modseq, flags, keywords, seen, seen_modseq) ORDER BY uid)
               FROM cur) AS current`,
    [mailboxId, accountId, uids, seen, modseq, target],
  );
  const changed = (rows[0]?.changed ?? []).map(Number);
  const wrote = new Set(changed);
  const current = (rows[0]?.current ?? []).map(([uid, m, flags, keywords, s, sm]): MessageChange => {
    const mySeen = wrote.has(uid) ? seen : s === true;
    const myModseq = wrote.has(uid) ? modseq : (sm ?? 0);
    return { uid, flags: (flags & ~SEEN) | (mySeen ? SEEN : 0), keywords, modseq: Math.max(m, myModseq) };
  });
  return { changed, current };
}
