/**
 * Message reads: FETCH rows for a UID set in one query (all of it from
 * Postgres, never S3), the session's UID list at SELECT, and the per-message
 * columns text searches and garbage collection need.
 */
import { type MessageChange, toChange } from "../changes/changes.ts";
import { named, type Queryable } from "../db.ts";
import { SEEN } from "./flags.ts";

/** What FETCH may need of a message; all of it comes from Postgres, never S3. */
export interface FetchRow {
  uid: number;
  modseq: number;
  flags: number;
  keywords: string[];
  internalDate: Date;
  savedDate: Date;
  size: number;
  blobKey: string;
  envelope: string | null;
  bodyStructure: string | null;
  body: string | null;
  /** The stored MIME index ({v,size,lines,parts}), parsed from jsonb. */
  mime: unknown;
  preview: string | null;
  /** RFC 8474 EMAILID / THREADID numbers (with FetchColumns.objectIds; THREADID null until threaded). */
  emailId?: number;
  threadId?: number | null;
}

/** Which optional (larger) columns a FETCH needs. */
export interface FetchColumns {
  envelope?: boolean;
  bodyStructure?: boolean;
  body?: boolean;
  mime?: boolean;
  preview?: boolean;
  /** email_id and thread_id (migration 010). */
  objectIds?: boolean;
}

interface RawFetchRow {
  uid: number;
  modseq: number;
  flags: number;
  keywords: string[];
  internal_date: Date;
  saved_date: Date;
  size: number;
  blob_key: string;
  envelope?: string | null;
  body_structure?: string | null;
  body?: string | null;
  mime?: unknown;
  preview?: string | null;
  email_id?: number;
  thread_id?: number | null;
}

/** Rows for the given UIDs (ascending), in ONE query. */
export async function fetchRows(
  db: Queryable,
  mailboxId: number,
  uids: readonly number[],
  columns: FetchColumns,
): Promise<FetchRow[]> {
  return (await fetchRowsWithHead(db, mailboxId, uids, columns)).rows;
}

/**
 * fetchRows, and the mailbox's HIGHESTMODSEQ read by the same statement (null
 * when no row matched): a session whose view is at that MODSEQ knows nothing
 * changed without asking again (issue 17: one round trip per command).
 */
export async function fetchRowsWithHead(
  db: Queryable,
  mailboxId: number,
  uids: readonly number[],
  columns: FetchColumns,
): Promise<{ rows: FetchRow[]; highestModseq: number | null }> {
  if (uids.length === 0) return { rows: [], highestModseq: null };
  const optional = [
    columns.envelope ? "envelope" : "",
    columns.bodyStructure ? "body_structure" : "",
    columns.body ? "body" : "",
    columns.mime ? "mime" : "",
    columns.preview ? "preview" : "",
    columns.objectIds ? "email_id, thread_id" : "",
  ].filter(Boolean);
  const { rows } = await db.query<RawFetchRow & { head: number }>(
    named(
      `SELECT uid, modseq, flags, keywords, internal_date, saved_date, size, blob_key
            ${optional.map((c) => `, ${c}`).join("")},
            (SELECT highestmodseq FROM mailboxes WHERE id = $1) AS head
       FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid`,
      [mailboxId, uids],
    ),
  );
  const fetched = rows.map(
    (r): FetchRow => ({
      uid: r.uid,
      modseq: r.modseq,
      flags: r.flags,
      keywords: r.keywords,
      internalDate: r.internal_date,
      savedDate: r.saved_date,
      size: r.size,
      blobKey: r.blob_key,
      envelope: r.envelope ?? null,
      bodyStructure: r.body_structure ?? null,
      body: r.body ?? null,
      mime: r.mime ?? null,
      preview: r.preview ?? null,
      ...(columns.objectIds ? { emailId: r.email_id!, threadId: r.thread_id ?? null } : {}),
    }),
  );
  return { rows: fetched, highestModseq: rows[0]?.head ?? null };
}

/** Blob key and MIME index of messages, for searches over message text. */
export async function blobsOf(
  db: Queryable,
  mailboxId: number,
  uids: readonly number[],
): Promise<{ uid: number; blobKey: string; mime: unknown }[]> {
  if (uids.length === 0) return [];
  const { rows } = await db.query<{ uid: number; blob_key: string; mime: unknown }>(
    "SELECT uid, blob_key, mime FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid",
    [mailboxId, uids],
  );
  return rows.map((r) => ({ uid: r.uid, blobKey: r.blob_key, mime: r.mime }));
}

export interface SentDateRow {
  uid: number;
  /** The first characters of the stored ENVELOPE (its Date field). */
  envelopeStart: string | null;
  headerDate: Date | null;
  internalDate: Date;
}

/** What SEARCH SENT* needs per message (the Date header as written). */
export async function sentDateRows(db: Queryable, mailboxId: number): Promise<SentDateRow[]> {
  const { rows } = await db.query<{
    uid: number;
    d: string | null;
    header_date: Date | null;
    internal_date: Date;
  }>("SELECT uid, left(envelope, 64) AS d, header_date, internal_date FROM messages WHERE mailbox_id = $1", [
    mailboxId,
  ]);
  return rows.map((r) => ({
    uid: r.uid,
    envelopeStart: r.d,
    headerDate: r.header_date,
    internalDate: r.internal_date,
  }));
}

/** UIDs (ascending) with flags: the session's initial view at SELECT. */
export async function listUids(db: Queryable, mailboxId: number): Promise<MessageChange[]> {
  const { rows } = await db.query<MessageChange>(
    "SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = $1 ORDER BY uid",
    [mailboxId],
  );
  return rows.map(toChange);
}

/** Number of messages without \Seen (STATUS UNSEEN), from the partial index. */
export async function countUnseen(db: Queryable, mailboxId: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::bigint AS n FROM messages WHERE mailbox_id = $1 AND flags & ${SEEN} = 0`,
    [mailboxId],
  );
  return rows[0]!.n;
}

/** Which of `blobKeys` a message row or a queued outbound message still references (the blob garbage collector asks). */
export async function referencedBlobKeys(db: Queryable, blobKeys: readonly string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ blob_key: string }>(
    // Queued outbound mail holds its blob too, until it is delivered or bounced.
    `SELECT blob_key FROM messages WHERE blob_key = ANY($1::text[])
     UNION SELECT blob_key FROM outbound_queue WHERE blob_key = ANY($1::text[])`,
    [blobKeys],
  );
  return new Set(rows.map((r) => r.blob_key));
}
