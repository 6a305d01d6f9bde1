/**
 * The search rows (migrations 010, 080): written by the background indexer
 * (libs/delivery search-indexer.ts) soon after a delivery's commit, copied by
 * COPY/MOVE inside their transaction. A message without its row has no
 * THREADID (the same statement sets both), and is searched by reading its
 * blob (the caller asks `unindexedIn` first), so a missing row costs time,
 * never a wrong answer.
 */
import type { PoolClient, Queryable } from "../db.ts";
import { bodyWords } from "./fulltext.ts";

/** What libs/delivery computes from a message (libs/mime search-text.ts and sort-keys.ts). */
export interface SearchRow {
  mailboxId: number;
  uid: number;
  /** Lower-cased header and body text. */
  header: string;
  body: string;
  attachmentNames: readonly string[];
  complete: boolean;
  baseSubject: string;
  replyOrForward: boolean;
  fromMailbox: string;
  toMailbox: string;
  ccMailbox: string;
  displayFrom: string;
  displayTo: string;
  /** Message ids of the References header. */
  refs: readonly string[];
}

/** PostgreSQL text can't hold NUL; the text a user searches never has one. */
const noNul = (s: string) => (s.includes("\0") ? s.replaceAll("\0", " ") : s);

/**
 * Inserts (or replaces) search rows of existing messages, then gives the new
 * ones their THREADID: the thread of a message of the same account whose
 * Message-ID is among the References/In-Reply-To ids, else that of one whose
 * References name this message (it came first), else a thread of its own (its
 * EMAILID). Two threads that a later message links are not merged (a THREADID
 * never changes, RFC 8474 §5.2); THREAD REFERENCES computes its trees anew.
 * Rows of messages already expunged are skipped.
 */
/** Returns how many rows were written. */
export async function writeSearchRows(db: Queryable, rows: readonly SearchRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const col = <T>(f: (r: SearchRow) => T) => rows.map(f);
  const bodies = rows.map((r) => noNul(r.body));
  const words = bodies.map(bodyWords);
  const ids = await vocabularyIds(db, [...new Set(words.flatMap((w) => w ?? []))]);
  // a word without an id can't happen (it was just inserted); such a row would take the LIKE, still right
  const wordIds = words.map((list) => {
    if (list === null) return null;
    const out: number[] = [];
    for (const w of list) {
      const id = ids.get(w);
      if (id === undefined) return null;
      out.push(id);
    }
    return `{${out.join(",")}}`;
  });
  const { rows: written } = await db.query<{ n: number }>(
    `WITH r AS (
       SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[],
                            $8::bool[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                            $15::text[])
         AS r(mailbox_id, uid, header, body, names, complete, base_subject, reply_or_forward, from_mailbox,
              to_mailbox, cc_mailbox, display_from, display_to, refs, words)
     ), ins AS (
       INSERT INTO message_search (mailbox_id, uid, header, body, attachment_names, complete, base_subject,
                                   reply_or_forward, from_mailbox, to_mailbox, cc_mailbox, display_from,
                                   display_to, refs, body_word_ids)
       SELECT r.mailbox_id, r.uid, r.header, r.body, ARRAY(SELECT jsonb_array_elements_text(r.names::jsonb)),
              r.complete, r.base_subject, r.reply_or_forward, r.from_mailbox, r.to_mailbox, r.cc_mailbox,
              r.display_from, r.display_to, ARRAY(SELECT jsonb_array_elements_text(r.refs::jsonb)),
              r.words::integer[]
         FROM r JOIN messages m ON m.mailbox_id = r.mailbox_id AND m.uid = r.uid
       ON CONFLICT (mailbox_id, uid) DO UPDATE SET
         header = EXCLUDED.header, body = EXCLUDED.body, body_word_ids = EXCLUDED.body_word_ids,
         attachment_names = EXCLUDED.attachment_names,
         complete = EXCLUDED.complete, base_subject = EXCLUDED.base_subject,
         reply_or_forward = EXCLUDED.reply_or_forward, from_mailbox = EXCLUDED.from_mailbox,
         to_mailbox = EXCLUDED.to_mailbox, cc_mailbox = EXCLUDED.cc_mailbox,
         display_from = EXCLUDED.display_from, display_to = EXCLUDED.display_to, refs = EXCLUDED.refs,
         indexed_at = now()
       RETURNING mailbox_id, uid, refs
     ), threaded AS (
     UPDATE messages m SET thread_id = coalesce((
         SELECT p.thread_id FROM messages p JOIN mailboxes pb ON pb.id = p.mailbox_id
          WHERE p.message_id = ANY(ins.refs || coalesce(substring(m.in_reply_to FROM '<[^<>[:space:]]+>'), ''))
            AND p.thread_id IS NOT NULL AND pb.account_id = mb.account_id
          LIMIT 1), (
         -- a reply that arrived before its parent: the parent joins the reply's thread
         SELECT c.thread_id FROM message_search cs
           JOIN messages c ON c.mailbox_id = cs.mailbox_id AND c.uid = cs.uid
           JOIN mailboxes cb ON cb.id = c.mailbox_id
          WHERE m.message_id IS NOT NULL AND cs.refs @> ARRAY[m.message_id]
            AND c.thread_id IS NOT NULL AND cb.account_id = mb.account_id
          LIMIT 1), m.email_id)
       FROM ins, mailboxes mb
      WHERE m.mailbox_id = ins.mailbox_id AND m.uid = ins.uid AND mb.id = m.mailbox_id AND m.thread_id IS NULL
     RETURNING 1
     )
     SELECT (SELECT count(*) FROM ins)::int AS n`,
    [
      col((r) => r.mailboxId),
      col((r) => r.uid),
      col((r) => noNul(r.header)),
      bodies,
      col((r) => JSON.stringify(r.attachmentNames.map(noNul))),
      col((r) => r.complete),
      col((r) => noNul(r.baseSubject)),
      col((r) => r.replyOrForward),
      col((r) => noNul(r.fromMailbox)),
      col((r) => noNul(r.toMailbox)),
      col((r) => noNul(r.ccMailbox)),
      col((r) => noNul(r.displayFrom)),
      col((r) => noNul(r.displayTo)),
      col((r) => JSON.stringify(r.refs.map(noNul))),
      wordIds,
    ],
  );
  return written[0]?.n ?? 0;
}

/**
 * The vocabulary ids of `words` (distinct), adding the words it lacks. Two
 * statements: the second's snapshot sees a word a concurrent indexer added
 * (the first waited for it on the conflict). Only missing words are inserted,
 * so the identity advances by new words, not by every word of every batch;
 * they go in sorted, so concurrent writers take shared words' locks in one
 * order (no deadlock).
 */
async function vocabularyIds(db: Queryable, words: readonly string[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  if (words.length === 0) return ids;
  // a word's id never changes (the vocabulary only grows): most of a batch's words are known here
  let cache = knownIds.get(db);
  if (!cache || cache.size > MAX_CACHED_IDS) {
    cache = new Map();
    knownIds.set(db, cache);
  }
  for (const w of words) {
    const id = cache.get(w);
    if (id !== undefined) ids.set(w, id);
  }
  const sorted = words.filter((w) => !ids.has(w)).sort();
  if (sorted.length === 0) return ids;
  const lookup = async () => {
    // a range, not "=": pg_trgm's GIN also answers "=", and on a young vocabulary the planner
    // chose it for "word = ANY(thousands of words)" (40 s per batch); only the btree answers this
    const { rows } = await db.query<{ id: number; word: string }>(
      `SELECT w.word, v.id FROM unnest($1::text[]) AS w(word)
         JOIN LATERAL (SELECT v.id FROM search_vocabulary v WHERE v.word >= w.word AND v.word <= w.word) v ON true`,
      [sorted],
    );
    for (const r of rows) ids.set(r.word, r.id);
  };
  await lookup();
  const missing = sorted.filter((w) => !ids.has(w));
  if (missing.length) {
    const { rows } = await db.query<{ id: number; word: string }>(
      "INSERT INTO search_vocabulary (word) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING id, word",
      [missing],
    );
    for (const r of rows) ids.set(r.word, r.id);
    if (ids.size < words.length) await lookup();
  }
  for (const w of sorted) {
    const id = ids.get(w);
    if (id !== undefined) cache.set(w, id);
  }
  return ids;
}

/** Vocabulary ids seen, per database (the pool): a cache, dropped whole past MAX_CACHED_IDS. */
const knownIds = new WeakMap<Queryable, Map<string, number>>();
const MAX_CACHED_IDS = 500_000;

/**
 * COPY/MOVE inside their transaction (before MOVE deletes the source rows):
 * the destination rows get the source rows' search rows. `sourceUids` and
 * `destinationUids` are ascending and pair up (copy.ts numbers in UID order).
 */
export async function copySearchRows(
  tx: PoolClient,
  sourceId: number,
  sourceUids: readonly number[],
  destinationId: number,
  destinationUids: readonly number[],
): Promise<void> {
  if (sourceUids.length === 0) return;
  await tx.query(
    `INSERT INTO message_search (mailbox_id, uid, header, body, attachment_names, complete, base_subject,
                                 reply_or_forward, from_mailbox, to_mailbox, cc_mailbox, display_from,
                                 display_to, refs, body_word_ids)
     SELECT $3, p.dst, s.header, s.body, s.attachment_names, s.complete, s.base_subject, s.reply_or_forward,
            s.from_mailbox, s.to_mailbox, s.cc_mailbox, s.display_from, s.display_to, s.refs, s.body_word_ids
       FROM unnest($2::bigint[], $4::bigint[]) AS p(src, dst)
       JOIN message_search s ON s.mailbox_id = $1 AND s.uid = p.src
     ON CONFLICT (mailbox_id, uid) DO NOTHING`,
    [sourceId, sourceUids, destinationId, destinationUids],
  );
}

export interface UnindexedMessage {
  mailboxId: number;
  uid: number;
  blobKey: string;
  size: number;
  /** It has a search row (with its SORT/THREAD keys), only its text was cut. */
  hasRow: boolean;
}

/**
 * The mailbox's messages a text search must read the blob of: those not
 * indexed yet (no THREADID: migration 080's partial index, so this costs the
 * backlog, not the mailbox) and those whose text was cut (the partial index
 * of incomplete rows). One statement; both parts are index scans.
 */
export async function unindexedIn(db: Queryable, mailboxId: number): Promise<UnindexedMessage[]> {
  const { rows } = await db.query<{ uid: number; blob_key: string; size: number; has_row: boolean }>(
    `SELECT m.uid, m.blob_key, m.size,
            EXISTS (SELECT 1 FROM message_search s WHERE s.mailbox_id = m.mailbox_id AND s.uid = m.uid) AS has_row
       FROM messages m WHERE m.mailbox_id = $1 AND m.thread_id IS NULL
     UNION ALL
     SELECT m.uid, m.blob_key, m.size, true FROM message_search s
       JOIN messages m ON m.mailbox_id = s.mailbox_id AND m.uid = s.uid
      WHERE s.mailbox_id = $1 AND NOT s.complete AND m.thread_id IS NOT NULL
     ORDER BY 1`,
    [mailboxId],
  );
  return rows.map((r) => ({ mailboxId, uid: r.uid, blobKey: r.blob_key, size: r.size, hasRow: r.has_row }));
}

/** A message waiting for its search row, with what the indexer needs to order a batch's THREADIDs. */
export interface PendingMessage extends UnindexedMessage {
  accountId: number;
  messageId: string | null;
  inReplyTo: string | null;
}

/**
 * The indexer's next batch: messages without a search row (THREADID NULL, the
 * partial index of migration 080) of mailboxes in one shard (`mailbox_id %
 * shards = shard`; one indexer holds a shard at a time), oldest mailbox and
 * UID first.
 */
export async function pendingBatch(
  db: Queryable,
  shard: number,
  shards: number,
  limit: number,
): Promise<PendingMessage[]> {
  const { rows } = await db.query<{
    mailbox_id: number;
    uid: number;
    blob_key: string;
    size: number;
    account_id: number;
    message_id: string | null;
    in_reply_to: string | null;
  }>(
    `SELECT m.mailbox_id, m.uid, m.blob_key, m.size, mb.account_id, m.message_id, m.in_reply_to
       FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id
      WHERE m.thread_id IS NULL AND m.mailbox_id % $1 = $2
      ORDER BY m.mailbox_id, m.uid LIMIT $3`,
    [shards, shard, limit],
  );
  return rows.map((r) => ({
    mailboxId: r.mailbox_id,
    uid: r.uid,
    blobKey: r.blob_key,
    size: r.size,
    hasRow: false,
    accountId: r.account_id,
    messageId: r.message_id,
    inReplyTo: r.in_reply_to,
  }));
}

/** The indexer's backlog: messages without a search row, and how long the oldest has waited. */
export async function backlog(db: Queryable): Promise<{ messages: number; oldestSeconds: number }> {
  const { rows } = await db.query<{ n: string; oldest: number | null }>(
    `SELECT count(*)::text AS n, extract(epoch FROM now() - min(saved_date))::float8 AS oldest
       FROM messages WHERE thread_id IS NULL`,
  );
  return { messages: Number(rows[0]?.n ?? 0), oldestSeconds: Math.max(0, rows[0]?.oldest ?? 0) };
}
