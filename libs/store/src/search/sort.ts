/**
 * SORT (RFC 5256 §3, RFC 5957 DISPLAYFROM/DISPLAYTO) as one ORDER BY over the
 * stored keys, and the per-message keys THREAD (RFC 5256 §3) needs. Keys are
 * casemapped when written (libs/mime sort-keys.ts), so they compare as octets
 * (COLLATE "C"), the i;unicode-casemap order. Ties go to the mailbox order,
 * i.e. UID ascending, whatever REVERSE says (RFC 5256 §3: "sorted in the order
 * in which they appear in the mailbox").
 */
import type { Queryable } from "../db.ts";

export type SortKeyName =
  | "ARRIVAL"
  | "CC"
  | "DATE"
  | "FROM"
  | "SIZE"
  | "SUBJECT"
  | "TO"
  | "DISPLAYFROM"
  | "DISPLAYTO";

export interface SortCriterion {
  key: SortKeyName;
  reverse: boolean;
}

const SORT_EXPRESSIONS: Record<SortKeyName, string> = {
  ARRIVAL: "m.internal_date",
  // RFC 5256: the Date header's time, normalised to UTC; the internal date when it has none.
  DATE: "coalesce(m.header_date, m.internal_date)",
  SIZE: "m.size",
  SUBJECT: `coalesce(s.base_subject, '') COLLATE "C"`,
  FROM: `coalesce(s.from_mailbox, '') COLLATE "C"`,
  TO: `coalesce(s.to_mailbox, '') COLLATE "C"`,
  CC: `coalesce(s.cc_mailbox, '') COLLATE "C"`,
  DISPLAYFROM: `coalesce(s.display_from, '') COLLATE "C"`,
  DISPLAYTO: `coalesce(s.display_to, '') COLLATE "C"`,
};

/** UIDs of the mailbox (all, or those in `uids`) in SORT order. */
export async function sortUids(
  db: Queryable,
  mailboxId: number,
  uids: readonly number[] | null,
  criteria: readonly SortCriterion[],
): Promise<number[]> {
  const order = criteria.map((c) => `${SORT_EXPRESSIONS[c.key]} ${c.reverse ? "DESC" : "ASC"}`);
  order.push("m.uid ASC");
  const { rows } = await db.query<{ uid: number }>(
    `SELECT m.uid FROM messages m
       LEFT JOIN message_search s ON s.mailbox_id = m.mailbox_id AND s.uid = m.uid
      WHERE m.mailbox_id = $1 ${uids === null ? "" : "AND m.uid = ANY($2::bigint[])"}
      ORDER BY ${order.join(", ")}`,
    uids === null ? [mailboxId] : [mailboxId, uids],
  );
  return rows.map((r) => r.uid);
}

export interface ThreadKeys {
  uid: number;
  messageId: string | null;
  inReplyTo: string | null;
  refs: string[];
  baseSubject: string;
  replyOrForward: boolean;
  /** The DATE sort key (sent date, else internal date). */
  sentAt: Date;
}

/** What THREAD needs of each message, in UID order. */
export async function threadKeys(
  db: Queryable,
  mailboxId: number,
  uids: readonly number[] | null,
): Promise<ThreadKeys[]> {
  const { rows } = await db.query<{
    uid: number;
    message_id: string | null;
    in_reply_to: string | null;
    refs: string[] | null;
    base_subject: string | null;
    reply_or_forward: boolean | null;
    sent_ms: number;
  }>(
    // the date as epoch milliseconds and no empty arrays: parsing 25,000 timestamptz strings and '{}'s
    // was a good part of THREAD's CPU in this process
    `SELECT m.uid, m.message_id, m.in_reply_to, CASE WHEN cardinality(s.refs) > 0 THEN s.refs END AS refs,
            s.base_subject, s.reply_or_forward,
            extract(epoch FROM coalesce(m.header_date, m.internal_date))::float8 * 1000 AS sent_ms
       FROM messages m LEFT JOIN message_search s ON s.mailbox_id = m.mailbox_id AND s.uid = m.uid
      WHERE m.mailbox_id = $1 ${uids === null ? "" : "AND m.uid = ANY($2::bigint[])"}
      ORDER BY m.uid`,
    uids === null ? [mailboxId] : [mailboxId, uids],
  );
  return rows.map((r) => ({
    uid: r.uid,
    messageId: r.message_id,
    inReplyTo: r.in_reply_to,
    refs: r.refs ?? [],
    baseSubject: r.base_subject ?? "",
    replyOrForward: r.reply_or_forward ?? false,
    sentAt: new Date(r.sent_ms),
  }));
}
