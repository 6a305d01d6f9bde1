/**
 * Message rows: the repository every gateway uses (`store.messages`). Each
 * write is one transaction opened here; the steps inside take the
 * transaction's client (append.ts, update-flags.ts, expunge.ts, copy.ts), so
 * a future multi-step write composes them under one BEGIN/COMMIT. IMAP's
 * steady-state writes save round trips: a one-mailbox APPEND is one statement
 * (appendInOneStatement); STORE and EXPUNGE send the row lock and their one
 * statement as one message, an implicit transaction (db.ts
 * inMailboxLockStatement): one round trip each, no BEGIN/COMMIT.
 */
import { changesSince, type MailboxChanges, type MessageChange } from "../changes/changes.ts";
import { type Pool, withTransaction } from "../db.ts";
import { pruneDedupeKeys } from "../dedupe/delivery-dedupe.ts";
import {
  type Appended,
  type AppendOptions,
  type AppendTarget,
  appendByName,
  appendGroupIn,
  appendIn,
  appendInOneStatement,
  type GroupedAppend,
  type GroupedAppendResult,
  type NamedAppend,
  type NamedAppendResult,
} from "./append.ts";
import { appendGroupAtOnce } from "./append-group.ts";
import { type CopyResult, copyIn } from "./copy.ts";
import { expungeOneTrip } from "./expunge.ts";
import {
  blobsOf,
  countUnseen,
  type FetchColumns,
  type FetchRow,
  fetchRows,
  fetchRowsWithHead,
  listUids,
  referencedBlobKeys,
  type SentDateRow,
  sentDateRows,
} from "./fetch.ts";
import { type MessageCriterion, searchUids } from "./search.ts";
import { type FlagUpdate, type FlagUpdateResult, updateFlagsOneTrip } from "./update-flags.ts";

export class Messages {
  constructor(private readonly pool: Pool) {}

  /**
   * Appends messages to one or more mailboxes in ONE transaction: either every
   * target gets its rows or none does (SMTP delivery to several recipients).
   * The blobs must already be durable in the blob store. With `opts.dedupe`,
   * exactly once per key within its window (DuplicateDeliveryError).
   */
  append(targets: readonly AppendTarget[], opts: AppendOptions = {}): Promise<Appended[]> {
    // One mailbox and no dedupe key (IMAP APPEND): one statement is its own
    // transaction, one round trip instead of BEGIN, allocate, insert, COMMIT.
    if (targets.length === 1 && !opts.dedupe)
      return appendInOneStatement(this.pool, targets[0]!).then((a) => [a]);
    return withTransaction(this.pool, (tx) => appendIn(tx, targets, opts));
  }

  /** IMAP APPEND by mailbox name with the quota check and \Recent claim, in one statement (appendByName). */
  appendByName(t: NamedAppend): Promise<NamedAppendResult> {
    return appendByName(this.pool, t);
  }

  /** Several deliveries in one transaction (group commit): see appendGroupIn. */
  appendGroup(items: readonly GroupedAppend[]): Promise<GroupedAppendResult[]> {
    return withTransaction(this.pool, (tx) => appendGroupIn(tx, items));
  }

  /**
   * appendGroup in one round trip (append-group.ts): the same outcome; when it
   * fails, nothing was committed and appendGroup names the error.
   */
  appendGroupAtOnce(items: readonly GroupedAppend[]): Promise<GroupedAppendResult[]> {
    return appendGroupAtOnce(this.pool, items);
  }

  /** Forgets dedupe keys older than the window (they can no longer match); returns how many. */
  pruneDedupeKeys(windowSeconds: number): Promise<number> {
    return pruneDedupeKeys(this.pool, windowSeconds);
  }

  /** STORE: changes flags of the given UIDs; only messages whose flags really change get a new MODSEQ. */
  updateFlags(u: FlagUpdate): Promise<FlagUpdateResult> {
    // The row lock and one statement in one message: one round trip, no BEGIN/COMMIT.
    return updateFlagsOneTrip(this.pool, u);
  }

  /**
   * Removes messages and logs each UID in the expunge log at one new MODSEQ.
   * With `onlyDeleted`, only those flagged \Deleted (IMAP EXPUNGE / UID EXPUNGE);
   * `durable: false` commits without waiting for the WAL flush (db.ts CommitOptions).
   * Returns the expunged UIDs ascending and the MODSEQ (unchanged if none).
   */
  expunge(
    mailboxId: number,
    uids: readonly number[] | "all",
    opts: { onlyDeleted?: boolean; durable?: boolean } = {},
  ): Promise<{ uids: number[]; modseq: number }> {
    // The row lock and one statement in one message: one round trip, no BEGIN/COMMIT.
    return expungeOneTrip(this.pool, mailboxId, uids, opts);
  }

  /** COPY (RFC 9051 §6.4.7) in one transaction, with the COPYUID mapping (RFC 4315). */
  copy(
    sourceId: number,
    uids: readonly number[],
    destinationId: number,
    quotaBytes: number | null,
  ): Promise<CopyResult> {
    return withTransaction(this.pool, (tx) => copyIn(tx, sourceId, uids, destinationId, quotaBytes, false));
  }

  /** MOVE (RFC 6851): copy and expunge from the source in one transaction. */
  /** `quotaBytes`: the destination owner's quota, checked when it is another account (a shared mailbox). */
  move(
    sourceId: number,
    uids: readonly number[],
    destinationId: number,
    quotaBytes: number | null = null,
  ): Promise<CopyResult> {
    return withTransaction(this.pool, (tx) => copyIn(tx, sourceId, uids, destinationId, quotaBytes, true));
  }

  /** What changed in a mailbox after MODSEQ `since` (changes/changes.ts). */
  changesSince(mailboxId: number, since: number): Promise<MailboxChanges> {
    return changesSince(this.pool, mailboxId, since);
  }

  /** UIDs (ascending) with flags: the session's initial view at SELECT. */
  listUids(mailboxId: number): Promise<MessageChange[]> {
    return listUids(this.pool, mailboxId);
  }

  /** Number of messages without \Seen (STATUS UNSEEN), from the partial index. */
  countUnseen(mailboxId: number): Promise<number> {
    return countUnseen(this.pool, mailboxId);
  }

  /** FETCH: rows for the given UIDs (ascending), in ONE query. */
  fetchRows(mailboxId: number, uids: readonly number[], columns: FetchColumns): Promise<FetchRow[]> {
    return fetchRows(this.pool, mailboxId, uids, columns);
  }

  /** fetchRows and the mailbox's HIGHESTMODSEQ, read by the same statement (fetch.ts). */
  fetchRowsWithHead(
    mailboxId: number,
    uids: readonly number[],
    columns: FetchColumns,
  ): Promise<{ rows: FetchRow[]; highestModseq: number | null }> {
    return fetchRowsWithHead(this.pool, mailboxId, uids, columns);
  }

  /** UIDs (ascending) of the mailbox's messages matching every criterion (SEARCH), in one query. */
  searchUids(mailboxId: number, criteria: readonly MessageCriterion[]): Promise<number[]> {
    return searchUids(this.pool, mailboxId, criteria);
  }

  /** What SEARCH SENT* needs per message (the Date header as written). */
  sentDateRows(mailboxId: number): Promise<SentDateRow[]> {
    return sentDateRows(this.pool, mailboxId);
  }

  /** Blob key and MIME index of messages, for searches over message text. */
  blobsOf(
    mailboxId: number,
    uids: readonly number[],
  ): Promise<{ uid: number; blobKey: string; mime: unknown }[]> {
    return blobsOf(this.pool, mailboxId, uids);
  }

  /** Which of `blobKeys` some message row still references (blob garbage collection). */
  referencedBlobKeys(blobKeys: readonly string[]): Promise<Set<string>> {
    return referencedBlobKeys(this.pool, blobKeys);
  }
}
