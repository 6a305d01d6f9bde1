/**
 * Message queries of the IMAP gateway: FETCH rows for a UID set in one query,
 * COPY and MOVE in one transaction each (RFC 4315 COPYUID, RFC 6851 MOVE), and
 * SEARCH as SQL built by the gateway over the decoded columns.
 */
import { type Pool, type PoolClient, withTransaction } from "./db.ts";
import { MailboxNotFoundError } from "./messages.ts";

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
}

/** Which optional (larger) columns a FETCH needs. */
export interface FetchColumns {
  envelope?: boolean;
  bodyStructure?: boolean;
  body?: boolean;
  mime?: boolean;
  preview?: boolean;
}

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

export class QuotaExceededError extends Error {
  constructor() {
    super("quota exceeded");
    this.name = "QuotaExceededError";
  }
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
}

export class ImapMessages {
  constructor(private readonly pool: Pool) {}

  /** Rows for the given UIDs (ascending), in ONE query. */
  async fetchRows(mailboxId: number, uids: readonly number[], columns: FetchColumns): Promise<FetchRow[]> {
    return (await this.fetchRowsWithHead(mailboxId, uids, columns)).rows;
  }

  /**
   * fetchRows, and the mailbox's HIGHESTMODSEQ read by the same statement (null
   * when no row matched): a session whose view is at that MODSEQ knows nothing
   * changed without asking again (issue 17: one round trip per command).
   */
  async fetchRowsWithHead(
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
    ].filter(Boolean);
    const { rows } = await this.pool.query<RawFetchRow & { head: number }>(
      `SELECT uid, modseq, flags, keywords, internal_date, saved_date, size, blob_key
              ${optional.map((c) => `, ${c}`).join("")},
              (SELECT highestmodseq FROM mailboxes WHERE id = $1) AS head
         FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid`,
      [mailboxId, uids],
    );
    const fetched = rows.map((r) => ({
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
    }));
    return { rows: fetched, highestModseq: rows[0]?.head ?? null };
  }

  /**
   * UIDs (ascending) of the mailbox's messages matching `where`, an SQL
   * condition over the messages columns whose parameters start at $2 ($1 is
   * the mailbox id). The gateway builds it from the SEARCH key tree.
   */
  async searchUids(mailboxId: number, where: string, params: readonly unknown[]): Promise<number[]> {
    const { rows } = await this.pool.query<{ uid: number }>(
      `SELECT uid FROM messages WHERE mailbox_id = $1 AND (${where}) ORDER BY uid`,
      [mailboxId, ...params],
    );
    return rows.map((r) => r.uid);
  }

  /** Blob key and MIME index of messages, for searches over message text. */
  async blobsOf(
    mailboxId: number,
    uids: readonly number[],
  ): Promise<{ uid: number; blobKey: string; mime: unknown }[]> {
    if (uids.length === 0) return [];
    const { rows } = await this.pool.query<{ uid: number; blob_key: string; mime: unknown }>(
      "SELECT uid, blob_key, mime FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid",
      [mailboxId, uids],
    );
    return rows.map((r) => ({ uid: r.uid, blobKey: r.blob_key, mime: r.mime }));
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
  move(sourceId: number, uids: readonly number[], destinationId: number): Promise<CopyResult> {
    return withTransaction(this.pool, (tx) => copyIn(tx, sourceId, uids, destinationId, null, true));
  }
}

async function copyIn(
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
  if (quotaBytes !== null && !move) {
    const used = await tx.query<{ bytes: number }>(
      "SELECT COALESCE(sum(total_size), 0)::bigint AS bytes FROM mailboxes WHERE account_id = $1",
      [source.account_id],
    );
    if (used.rows[0]!.bytes + bytes > quotaBytes) throw new QuotaExceededError();
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
                           cc_addr, bcc_addr, message_id, in_reply_to, preview)
     SELECT $1, $2 + row_number() OVER (ORDER BY uid) - 1, $3, flags, keywords, internal_date, size, blob_key,
            envelope, body_structure, body, mime, header_date, subject, from_addr, to_addr,
            cc_addr, bcc_addr, message_id, in_reply_to, preview
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
  if (move && sourceUids.length) {
    const modseq = source.highestmodseq + (sourceId === destinationId ? 2 : 1);
    await tx.query("DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])", [
      sourceId,
      sourceUids,
    ]);
    await tx.query(
      `INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, uid, $3 FROM unnest($2::bigint[]) uid
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq`,
      [sourceId, sourceUids, modseq],
    );
    await tx.query(
      `UPDATE mailboxes SET highestmodseq = $2, message_count = message_count - $3, total_size = total_size - $4
        WHERE id = $1`,
      [sourceId, modseq, sourceUids.length, bytes],
    );
    result.sourceModseq = modseq;
  }
  return result;
}

export interface SentDateRow {
  uid: number;
  /** The first characters of the stored ENVELOPE (its Date field). */
  envelopeStart: string | null;
  headerDate: Date | null;
  internalDate: Date;
}

/** What SEARCH SENT* needs per message (the Date header as written). */
export async function sentDateRows(pool: Pool, mailboxId: number): Promise<SentDateRow[]> {
  const { rows } = await pool.query<{
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
