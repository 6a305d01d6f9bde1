/**
 * Appending messages: UID and MODSEQ allocation and the message rows.
 *
 * Every write first takes the mailbox row's lock by updating it (UIDNEXT,
 * HIGHESTMODSEQ, counters) in the same transaction as the message rows. So
 * writers to one mailbox are serialised by Postgres itself: UIDs and MODSEQs
 * are allocated in commit order, never duplicated, never decreasing, across
 * any number of processes.
 */
import { named, type PoolClient, type Queryable } from "../db.ts";
import { claimDedupeKey, claimDedupeKeys, type DedupeOptions } from "../dedupe/delivery-dedupe.ts";
import { MailboxNotFoundError } from "../mailboxes/mailboxes.ts";
import { encodeFlags } from "./flags.ts";

/** The MIME index columns (computed once at delivery by libs/mime). */
export interface IndexColumns {
  envelope: string;
  bodyStructure: string;
  body: string;
  /** The part tree with byte offsets (stored as jsonb). */
  mime: unknown;
  headerDate: Date | null;
  subject: string | null;
  from: string | null;
  to: string | null;
  cc: string | null;
  bcc: string | null;
  messageId: string | null;
  inReplyTo: string | null;
  preview: string | null;
}

export interface NewMessage {
  blobKey: string;
  size: number;
  /** INTERNALDATE; defaults to now. */
  internalDate?: Date;
  /** IMAP flag names, system flags and keywords alike (\Recent is ignored). */
  flags?: readonly string[];
  index?: IndexColumns | null;
}

export interface AppendTarget {
  mailboxId: number;
  messages: readonly NewMessage[];
}

export interface Appended {
  mailboxId: number;
  accountId: number;
  uidValidity: number;
  /** UIDs of the appended messages, in input order. */
  uids: number[];
  modseq: number;
}

export interface AppendOptions {
  dedupe?: DedupeOptions;
}

/** One delivery of a group commit (Messages.appendGroup): what append() takes. */
export interface GroupedAppend {
  targets: readonly AppendTarget[];
  dedupe?: DedupeOptions;
}

/** A grouped delivery's outcome: its rows (as append() returns them), or a duplicate of one already committed. */
export type GroupedAppendResult = { duplicate: false; appended: Appended[] } | { duplicate: true };

/** Allocates UIDNEXT..+n-1 and one new MODSEQ for a mailbox, locking its row until commit. */
async function allocate(
  tx: PoolClient,
  mailboxId: number,
  count: number,
  bytes: number,
): Promise<{ accountId: number; uidValidity: number; firstUid: number; modseq: number }> {
  const { rows } = await tx.query<{
    account_id: number;
    uidvalidity: number;
    first_uid: number;
    modseq: number;
  }>(
    `UPDATE mailboxes
        SET uidnext = uidnext + $2, highestmodseq = highestmodseq + 1,
            message_count = message_count + $2, total_size = total_size + $3
      WHERE id = $1
      RETURNING account_id, uidvalidity, uidnext - $2 AS first_uid, highestmodseq AS modseq`,
    [mailboxId, count, bytes],
  );
  if (!rows[0]) throw new MailboxNotFoundError(mailboxId);
  const r = rows[0];
  return { accountId: r.account_id, uidValidity: r.uidvalidity, firstUid: r.first_uid, modseq: r.modseq };
}

/** The INSERT's column arrays (one element per message, numbered from firstUid) and the keywords they use. */
export function rowColumns(msgs: readonly NewMessage[], firstUid: number) {
  const cols = {
    uid: [] as number[],
    flags: [] as number[],
    keywords: [] as string[],
    internalDate: [] as Date[],
    size: [] as number[],
    blobKey: [] as string[],
    envelope: [] as (string | null)[],
    bodyStructure: [] as (string | null)[],
    body: [] as (string | null)[],
    mime: [] as (string | null)[],
    headerDate: [] as (Date | null)[],
    subject: [] as (string | null)[],
    from: [] as (string | null)[],
    to: [] as (string | null)[],
    cc: [] as (string | null)[],
    bcc: [] as (string | null)[],
    messageId: [] as (string | null)[],
    inReplyTo: [] as (string | null)[],
    preview: [] as (string | null)[],
  };
  const allKeywords = new Set<string>();
  msgs.forEach((m, i) => {
    const { bits, keywords } = encodeFlags(m.flags ?? []);
    for (const k of keywords) allKeywords.add(k);
    const ix = m.index ?? null;
    cols.uid.push(firstUid + i);
    cols.flags.push(bits);
    // text[][] can't be ragged, so each row's keywords travel as one JSON array.
    cols.keywords.push(JSON.stringify(keywords));
    cols.internalDate.push(m.internalDate ?? new Date());
    cols.size.push(m.size);
    cols.blobKey.push(m.blobKey);
    cols.envelope.push(ix?.envelope ?? null);
    cols.bodyStructure.push(ix?.bodyStructure ?? null);
    cols.body.push(ix?.body ?? null);
    cols.mime.push(ix ? JSON.stringify(ix.mime) : null);
    cols.headerDate.push(ix?.headerDate ?? null);
    cols.subject.push(ix?.subject ?? null);
    cols.from.push(ix?.from ?? null);
    cols.to.push(ix?.to ?? null);
    cols.cc.push(ix?.cc ?? null);
    cols.bcc.push(ix?.bcc ?? null);
    cols.messageId.push(ix?.messageId ?? null);
    cols.inReplyTo.push(ix?.inReplyTo ?? null);
    cols.preview.push(ix?.preview ?? null);
  });
  const params = [
    cols.uid,
    cols.flags,
    cols.keywords,
    cols.internalDate,
    cols.size,
    cols.blobKey,
    cols.envelope,
    cols.bodyStructure,
    cols.body,
    cols.mime,
    cols.headerDate,
    cols.subject,
    cols.from,
    cols.to,
    cols.cc,
    cols.bcc,
    cols.messageId,
    cols.inReplyTo,
    cols.preview,
  ];
  return { params, keywords: [...allKeywords] };
}

/**
 * The message rows' INSERT, shared by insertRows (the transaction's step) and
 * appendInOneStatement: $1 is the mailbox, $3..$21 rowColumns' arrays, `modseq`
 * the MODSEQ expression, `uid` the UID one over u.uid, `from` extra FROM items
 * (the allocation's CTE).
 */
export function insertSql(modseq: string, uid = "u.uid", from = "", mailbox = "$1"): string {
  return `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_key,
                           envelope, body_structure, body, mime, header_date, subject, from_addr, to_addr,
                           cc_addr, bcc_addr, message_id, in_reply_to, preview)
     SELECT ${mailbox}, ${uid}, ${modseq}, u.flags, ARRAY(SELECT jsonb_array_elements_text(u.keywords::jsonb)),
            u.internal_date, u.size, u.blob_key, u.envelope, u.body_structure, u.body, u.mime::jsonb,
            u.header_date, u.subject, u.from_addr, u.to_addr, u.cc_addr, u.bcc_addr, u.message_id,
            u.in_reply_to, u.preview
       FROM ${from}unnest($3::bigint[], $4::smallint[], $5::text[], $6::timestamptz[], $7::bigint[], $8::text[],
                   $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[],
                   $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[])
         AS u(uid, flags, keywords, internal_date, size, blob_key, envelope, body_structure, body, mime,
              header_date, subject, from_addr, to_addr, cc_addr, bcc_addr, message_id, in_reply_to, preview)`;
}

/** The mailbox row's keyword list with the keywords of text[] parameter `param` added (no duplicates). */
export function mailboxKeywordsAddSql(param: string): string {
  return `CASE WHEN keywords @> ${param}::text[] THEN keywords
              ELSE keywords || ARRAY(SELECT k FROM unnest(${param}::text[]) k WHERE NOT k = ANY(keywords)) END`;
}

async function insertRows(
  tx: PoolClient,
  mailboxId: number,
  firstUid: number,
  modseq: number,
  msgs: readonly NewMessage[],
) {
  const { params, keywords } = rowColumns(msgs, firstUid);
  await tx.query(insertSql("$2"), [mailboxId, modseq, ...params]);
  if (keywords.length) await addMailboxKeywords(tx, mailboxId, keywords);
}

export async function addMailboxKeywords(tx: PoolClient, mailboxId: number, keywords: string[]) {
  await tx.query(
    `UPDATE mailboxes SET keywords = keywords || ARRAY(SELECT k FROM unnest($2::text[]) k WHERE NOT k = ANY(keywords))
      WHERE id = $1 AND NOT keywords @> $2::text[]`,
    [mailboxId, keywords],
  );
}

/**
 * appendIn of one target without dedupe as ONE statement, its own transaction
 * (IMAP APPEND): the mailbox row's UPDATE allocates UIDs and the MODSEQ (and
 * takes the row lock, as allocate() does), the INSERT numbers its rows from
 * what it returned, and the new keywords join the mailbox's list in that same
 * UPDATE. Same rows, same locking order as appendIn, one round trip.
 */
export async function appendInOneStatement(db: Queryable, t: AppendTarget): Promise<Appended> {
  const n = t.messages.length;
  if (n === 0) throw new RangeError("append needs at least one message per target");
  const bytes = t.messages.reduce((sum, m) => sum + m.size, 0);
  // UIDs numbered from 0 here; the statement adds the allocated first UID.
  const { params, keywords } = rowColumns(t.messages, 0);
  const { rows } = await db.query<{
    account_id: number;
    uidvalidity: number;
    first_uid: number;
    modseq: number;
  }>(
    `WITH a AS (
       UPDATE mailboxes
          SET uidnext = uidnext + $2, highestmodseq = highestmodseq + 1,
              message_count = message_count + $2, total_size = total_size + $22,
              keywords = ${mailboxKeywordsAddSql("$23")}
        WHERE id = $1
        RETURNING account_id, uidvalidity, uidnext - $2 AS first_uid, highestmodseq AS modseq
     ), ins AS (
       ${insertSql("a.modseq", "a.first_uid + u.uid", "a, ")}
       RETURNING 1
     )
     SELECT a.*, (SELECT count(*) FROM ins) AS inserted FROM a`,
    [t.mailboxId, n, ...params, bytes, keywords],
  );
  const r = rows[0];
  if (!r) throw new MailboxNotFoundError(t.mailboxId);
  return {
    mailboxId: t.mailboxId,
    accountId: r.account_id,
    uidValidity: r.uidvalidity,
    uids: t.messages.map((_, k) => r.first_uid + k),
    modseq: r.modseq,
  };
}

/** IMAP APPEND to a mailbox named by the client (appendByName). */
export interface NamedAppend {
  accountId: number;
  /** The mailbox name as stored (normalizeMailboxName). */
  name: string;
  messages: readonly NewMessage[];
  /**
   * The mailbox the appending session has selected as an IMAP4rev1 read-write
   * session: when the name finds this one, it claims the \Recent messages up to
   * the new UIDNEXT in the same statement (the claim its sync would make).
   */
  claimRecentIn?: number;
}

export type NamedAppendResult =
  | {
      kind: "appended";
      appended: Appended /** First UID of the \Recent range claimed (claimRecentIn). */;
      recentFrom?: number;
    }
  | { kind: "no-mailbox" }
  | { kind: "over-quota" };

/**
 * IMAP APPEND in ONE statement, its own transaction: the mailbox found by
 * name, the account's quota checked against its usage (RFC 9208, the same sum
 * accountUsage reads), the allocation and the INSERT as appendInOneStatement
 * does them, and (claimRecentIn) the \Recent claim, with the row locked by the
 * FOR UPDATE in the UPDATE's FROM so the claimed range starts at the newest
 * recent_uid. Instead of a mailbox lookup, an account read, a usage read (with
 * a quota), the append and the claim: five round trips to one.
 */
export async function appendByName(db: Queryable, t: NamedAppend): Promise<NamedAppendResult> {
  const n = t.messages.length;
  if (n === 0) throw new RangeError("append needs at least one message");
  const bytes = t.messages.reduce((sum, m) => sum + m.size, 0);
  const { params, keywords } = rowColumns(t.messages, 0);
  // $1 is the name here (insertSql's mailbox comes from the UPDATE's row); $24 the account, $25 claimRecentIn.
  const { rows } = await db.query<{
    found: boolean;
    fits: boolean;
    id: number | null;
    account_id: number | null;
    uidvalidity: number | null;
    first_uid: number | null;
    modseq: number | null;
    recent_old: number | null;
  }>(
    named(
      `WITH q AS (
       SELECT a.quota_bytes,
              CASE WHEN a.quota_bytes IS NULL THEN true
                   ELSE (SELECT coalesce(sum(total_size), 0) FROM mailboxes WHERE account_id = $24) + $22
                        <= a.quota_bytes END AS fits
         FROM accounts a WHERE a.id = $24
     ), a AS (
       UPDATE mailboxes m
          SET uidnext = m.uidnext + $2, highestmodseq = m.highestmodseq + 1,
              message_count = m.message_count + $2, total_size = m.total_size + $22,
              keywords = ${mailboxKeywordsAddSql("$23")},
              recent_uid = CASE WHEN m.id = $25 THEN m.uidnext + $2 ELSE m.recent_uid END
         FROM (SELECT id, recent_uid AS old FROM mailboxes WHERE account_id = $24 AND name = $1 FOR UPDATE) o
        WHERE m.id = o.id AND (SELECT fits FROM q)
        RETURNING m.id, m.account_id, m.uidvalidity, m.uidnext - $2 AS first_uid, m.highestmodseq AS modseq,
                  o.old AS recent_old
     ), ins AS (
       ${insertSql("a.modseq", "a.first_uid + u.uid", "a, ", "a.id")}
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $24 AND name = $1) AS found,
            coalesce((SELECT fits FROM q), false) AS fits, a.*, (SELECT count(*) FROM ins) AS inserted
       FROM (SELECT 1) one LEFT JOIN a ON true`,
      [t.name, n, ...params, bytes, keywords, t.accountId, t.claimRecentIn ?? null],
    ),
  );
  const r = rows[0]!;
  if (r.id === null) return r.found ? { kind: r.fits ? "no-mailbox" : "over-quota" } : { kind: "no-mailbox" };
  const firstUid = r.first_uid!;
  const appended: Appended = {
    mailboxId: r.id,
    accountId: r.account_id!,
    uidValidity: r.uidvalidity!,
    uids: t.messages.map((_, k) => firstUid + k),
    modseq: r.modseq!,
  };
  if (r.id !== t.claimRecentIn) return { kind: "appended", appended };
  return { kind: "appended", appended, recentFrom: Math.min(r.recent_old!, firstUid + n) };
}

/**
 * Appends messages to one or more mailboxes inside the caller's transaction:
 * either every target gets its rows or none does (SMTP delivery to several
 * recipients). The blobs must already be durable in the blob store.
 *
 * With `opts.dedupe` the key is claimed first: a key claimed within the window
 * makes the append throw DuplicateDeliveryError without touching any mailbox;
 * two concurrent appends with one key are serialised by the key's unique
 * index, and the second one sees the first.
 */
export async function appendIn(
  tx: PoolClient,
  targets: readonly AppendTarget[],
  opts: AppendOptions = {},
): Promise<Appended[]> {
  // Lock mailboxes in id order so two multi-recipient deliveries can't deadlock.
  const order = targets.map((t, i) => ({ t, i })).sort((a, b) => a.t.mailboxId - b.t.mailboxId);
  if (opts.dedupe) await claimDedupeKey(tx, opts.dedupe);
  const results: Appended[] = new Array(targets.length);
  for (const { t, i } of order) {
    if (t.messages.length === 0) throw new RangeError("append needs at least one message per target");
    const bytes = t.messages.reduce((sum, m) => sum + m.size, 0);
    const a = await allocate(tx, t.mailboxId, t.messages.length, bytes);
    await insertRows(tx, t.mailboxId, a.firstUid, a.modseq, t.messages);
    results[i] = {
      mailboxId: t.mailboxId,
      accountId: a.accountId,
      uidValidity: a.uidValidity,
      uids: t.messages.map((_, k) => a.firstUid + k),
      modseq: a.modseq,
    };
  }
  return results;
}

/** A group's every target must bring at least one message (both group paths check this first). */
export function requireMessagesPerTarget(items: readonly GroupedAppend[]): void {
  for (const item of items) {
    for (const t of item.targets) {
      if (t.messages.length === 0) throw new RangeError("append needs at least one message per target");
    }
  }
}

/**
 * Group commit: several independent deliveries (each what appendIn takes) in
 * the caller's ONE transaction, so messages arriving together share one commit
 * (one WAL flush) and one lock hold of each mailbox row: every mailbox's UIDs
 * for the whole group are allocated by one UPDATE and its rows inserted by one
 * INSERT. A delivery whose dedupe key was already claimed (within its window,
 * or earlier in this group) comes back as a duplicate and adds nothing; the
 * others are unaffected. Any other failure fails the whole group (nothing
 * visible); the caller may retry the deliveries one by one. Locks are taken in
 * one order (dedupe keys sorted, then mailboxes by id) so concurrent groups and
 * appends can't deadlock.
 */
export async function appendGroupIn(
  tx: PoolClient,
  items: readonly GroupedAppend[],
): Promise<GroupedAppendResult[]> {
  requireMessagesPerTarget(items);
  const results: (GroupedAppendResult | undefined)[] = new Array(items.length);
  const live: number[] = [];
  // Dedupe keys: the first item with a key claims it; a repeat in the group is its duplicate.
  const claimers = new Map<string, number>();
  const byWindow = new Map<number, string[]>();
  for (const [i, item] of items.entries()) {
    if (!item.dedupe) {
      live.push(i);
    } else if (claimers.has(item.dedupe.key)) {
      results[i] = { duplicate: true };
    } else {
      claimers.set(item.dedupe.key, i);
      const keys = byWindow.get(item.dedupe.windowSeconds) ?? [];
      keys.push(item.dedupe.key);
      byWindow.set(item.dedupe.windowSeconds, keys);
    }
  }
  for (const [windowSeconds, keys] of byWindow) {
    const claimed = await claimDedupeKeys(tx, keys, windowSeconds);
    for (const key of keys) {
      const i = claimers.get(key)!;
      if (claimed.has(key)) live.push(i);
      else results[i] = { duplicate: true };
    }
  }
  live.sort((a, b) => a - b);
  // Every mailbox once, in id order: one allocation and one insert for all the group's messages to it.
  const perMailbox = new Map<number, { item: number; target: number; messages: readonly NewMessage[] }[]>();
  for (const i of live) {
    items[i]!.targets.forEach((t, ti) => {
      const list = perMailbox.get(t.mailboxId) ?? [];
      list.push({ item: i, target: ti, messages: t.messages });
      perMailbox.set(t.mailboxId, list);
    });
  }
  const appended = new Map<number, Appended[]>(live.map((i) => [i, new Array(items[i]!.targets.length)]));
  for (const mailboxId of [...perMailbox.keys()].sort((a, b) => a - b)) {
    const parts = perMailbox.get(mailboxId)!;
    const all = parts.flatMap((p) => p.messages);
    const bytes = all.reduce((sum, m) => sum + m.size, 0);
    const a = await allocate(tx, mailboxId, all.length, bytes);
    await insertRows(tx, mailboxId, a.firstUid, a.modseq, all);
    let next = a.firstUid;
    for (const p of parts) {
      appended.get(p.item)![p.target] = {
        mailboxId,
        accountId: a.accountId,
        uidValidity: a.uidValidity,
        uids: p.messages.map((_, k) => next + k),
        modseq: a.modseq,
      };
      next += p.messages.length;
    }
  }
  for (const i of live) results[i] = { duplicate: false, appended: appended.get(i)! };
  return results as GroupedAppendResult[];
}
