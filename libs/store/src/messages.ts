/**
 * Message rows: append (UID and MODSEQ allocation), flag changes, expunge, and
 * the change query every IMAP command asks ("what changed since MODSEQ m").
 *
 * Every write first takes the mailbox row's lock by updating it (UIDNEXT,
 * HIGHESTMODSEQ, counters) in the same transaction as the message rows. So
 * writers to one mailbox are serialised by Postgres itself: UIDs and MODSEQs
 * are allocated in commit order, never duplicated, never decreasing, across
 * any number of processes.
 */
import { type Pool, type PoolClient, withMailboxLock, withTransaction } from "./db.ts";
import { DELETED, encodeFlags, SEEN } from "./flags.ts";

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

export interface MessageChange {
  uid: number;
  modseq: number;
  flags: number;
  keywords: string[];
}

export interface MailboxChanges {
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** Messages added or whose flags changed after the given MODSEQ, by UID. */
  changed: MessageChange[];
  /** UIDs expunged after the given MODSEQ, ascending. */
  expunged: number[];
}

/**
 * Exactly-once delivery: a key recorded in the same transaction as the rows.
 * When the key was recorded less than `windowSeconds` ago the append does
 * nothing and throws DuplicateDeliveryError.
 */
export interface DedupeOptions {
  key: string;
  windowSeconds: number;
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

export class DuplicateDeliveryError extends Error {
  constructor(readonly key: string) {
    super(`delivery ${key} was already committed within the dedupe window`);
    this.name = "DuplicateDeliveryError";
  }
}

export class MailboxNotFoundError extends Error {
  constructor(readonly mailboxId: number) {
    super(`mailbox ${mailboxId} does not exist`);
    this.name = "MailboxNotFoundError";
  }
}

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

/** The INSERT's column arrays (one element per message) and the keywords they use. */
function rowColumns(msgs: readonly NewMessage[], firstUid = 0) {
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
    cols.uid.push(firstUid + i); // unused by the one-statement append, which numbers rows itself
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
  return { cols, keywords: [...allKeywords] };
}

async function insertRows(
  tx: PoolClient,
  mailboxId: number,
  firstUid: number,
  modseq: number,
  msgs: readonly NewMessage[],
) {
  const { cols, keywords } = rowColumns(msgs, firstUid);
  await tx.query(
    `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_key,
                           envelope, body_structure, body, mime, header_date, subject, from_addr, to_addr,
                           cc_addr, bcc_addr, message_id, in_reply_to, preview)
     SELECT $1, u.uid, $2, u.flags, ARRAY(SELECT jsonb_array_elements_text(u.keywords::jsonb)),
            u.internal_date, u.size, u.blob_key, u.envelope, u.body_structure, u.body, u.mime::jsonb,
            u.header_date, u.subject, u.from_addr, u.to_addr, u.cc_addr, u.bcc_addr, u.message_id,
            u.in_reply_to, u.preview
       FROM unnest($3::bigint[], $4::smallint[], $5::text[], $6::timestamptz[], $7::bigint[], $8::text[],
                   $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[],
                   $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[])
         AS u(uid, flags, keywords, internal_date, size, blob_key, envelope, body_structure, body, mime,
              header_date, subject, from_addr, to_addr, cc_addr, bcc_addr, message_id, in_reply_to, preview)`,
    [
      mailboxId,
      modseq,
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
    ],
  );
  if (keywords.length) await addMailboxKeywords(tx, mailboxId, keywords);
}

/**
 * append() of one target without dedupe as ONE statement: the mailbox row's
 * UPDATE allocates UIDs and the MODSEQ (and takes the row lock, as allocate()
 * does), the INSERT uses what it returned, and the new keywords join the
 * mailbox's list in that same UPDATE. Same rows, same locking order as the
 * transaction, one round trip.
 */
async function appendInOneStatement(pool: Pool, t: AppendTarget): Promise<Appended> {
  const n = t.messages.length;
  if (n === 0) throw new RangeError("append needs at least one message per target");
  const bytes = t.messages.reduce((sum, m) => sum + m.size, 0);
  const { cols, keywords } = rowColumns(t.messages);
  const { rows } = await pool.query<{
    account_id: number;
    uidvalidity: number;
    first_uid: number;
    modseq: number;
  }>(
    `WITH a AS (
       UPDATE mailboxes
          SET uidnext = uidnext + $2, highestmodseq = highestmodseq + 1,
              message_count = message_count + $2, total_size = total_size + $22,
              keywords = CASE WHEN keywords @> $23::text[] THEN keywords
                              ELSE keywords || ARRAY(SELECT k FROM unnest($23::text[]) k WHERE NOT k = ANY(keywords)) END
        WHERE id = $1
        RETURNING account_id, uidvalidity, uidnext - $2 AS first_uid, highestmodseq AS modseq
     ), ins AS (
       INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_key,
                             envelope, body_structure, body, mime, header_date, subject, from_addr, to_addr,
                             cc_addr, bcc_addr, message_id, in_reply_to, preview)
       SELECT $1, a.first_uid + u.ord - 1, a.modseq, u.flags, ARRAY(SELECT jsonb_array_elements_text(u.keywords::jsonb)),
              u.internal_date, u.size, u.blob_key, u.envelope, u.body_structure, u.body, u.mime::jsonb,
              u.header_date, u.subject, u.from_addr, u.to_addr, u.cc_addr, u.bcc_addr, u.message_id,
              u.in_reply_to, u.preview
         FROM a, unnest($3::bigint[], $4::smallint[], $5::text[], $6::timestamptz[], $7::bigint[], $8::text[],
                     $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[],
                     $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[])
              WITH ORDINALITY
           AS u(uid, flags, keywords, internal_date, size, blob_key, envelope, body_structure, body, mime,
                header_date, subject, from_addr, to_addr, cc_addr, bcc_addr, message_id, in_reply_to, preview, ord)
       RETURNING 1
     )
     SELECT a.*, (SELECT count(*) FROM ins) AS inserted FROM a`,
    [
      t.mailboxId,
      n,
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
      bytes,
      keywords,
    ],
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

async function addMailboxKeywords(tx: PoolClient, mailboxId: number, keywords: string[]) {
  await tx.query(
    `UPDATE mailboxes SET keywords = keywords || ARRAY(SELECT k FROM unnest($2::text[]) k WHERE NOT k = ANY(keywords))
      WHERE id = $1 AND NOT keywords @> $2::text[]`,
    [mailboxId, keywords],
  );
}

/** Records the key, or throws DuplicateDeliveryError when it was recorded within the window. */
async function claimDedupeKey(tx: PoolClient, d: DedupeOptions): Promise<void> {
  const { rowCount } = await tx.query(
    `INSERT INTO delivery_dedupe (key, created_at) VALUES ($1, now())
       ON CONFLICT (key) DO UPDATE SET created_at = now()
        WHERE delivery_dedupe.created_at < now() - $2 * interval '1 second'`,
    [d.key, d.windowSeconds],
  );
  if (!rowCount) throw new DuplicateDeliveryError(d.key);
}

function toChange(r: { uid: number; modseq: number; flags: number; keywords: string[] }): MessageChange {
  return { uid: r.uid, modseq: r.modseq, flags: r.flags, keywords: r.keywords };
}

export class Messages {
  constructor(private readonly pool: Pool) {}

  /**
   * Appends messages to one or more mailboxes in ONE transaction: either every
   * target gets its rows or none does (SMTP delivery to several recipients).
   * The blobs must already be durable in the blob store.
   *
   * With `opts.dedupe` the key is claimed first, in the same transaction: a key
   * claimed within the window makes the append throw DuplicateDeliveryError
   * without touching any mailbox; two concurrent appends with one key are
   * serialised by the key's unique index, and the second one sees the first.
   */
  async append(targets: readonly AppendTarget[], opts: AppendOptions = {}): Promise<Appended[]> {
    // One mailbox and no dedupe key (IMAP APPEND): one statement is its own
    // transaction, one round trip instead of BEGIN, allocate, insert, COMMIT.
    if (targets.length === 1 && !opts.dedupe) return [await appendInOneStatement(this.pool, targets[0]!)];
    // Lock mailboxes in id order so two multi-recipient deliveries can't deadlock.
    const order = targets.map((t, i) => ({ t, i })).sort((a, b) => a.t.mailboxId - b.t.mailboxId);
    return withTransaction(this.pool, async (tx) => {
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
    });
  }

  /**
   * Group commit: several independent deliveries (each what append() takes)
   * in ONE transaction, so messages arriving together share one commit (one
   * WAL flush) and one lock hold of each mailbox row: every mailbox's UIDs
   * for the whole group are allocated by one UPDATE and its rows inserted by
   * one INSERT. A delivery whose dedupe key was already claimed (within its
   * window, or earlier in this group) comes back as a duplicate and adds
   * nothing; the others are unaffected. Any other failure fails the whole
   * group (nothing visible); the caller may retry the deliveries one by one.
   * Locks are taken in one order (dedupe keys sorted, then mailboxes by id)
   * so concurrent groups and appends can't deadlock.
   */
  async appendGroup(items: readonly GroupedAppend[]): Promise<GroupedAppendResult[]> {
    for (const item of items) {
      for (const t of item.targets) {
        if (t.messages.length === 0) throw new RangeError("append needs at least one message per target");
      }
    }
    return withTransaction(this.pool, async (tx) => {
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
        keys.sort();
        const { rows } = await tx.query<{ key: string }>(
          `INSERT INTO delivery_dedupe (key, created_at) SELECT k, now() FROM unnest($1::text[]) AS k
             ON CONFLICT (key) DO UPDATE SET created_at = now()
              WHERE delivery_dedupe.created_at < now() - $2 * interval '1 second'
           RETURNING key`,
          [keys, windowSeconds],
        );
        const claimed = new Set(rows.map((r) => r.key));
        for (const key of keys) {
          const i = claimers.get(key)!;
          if (claimed.has(key)) live.push(i);
          else results[i] = { duplicate: true };
        }
      }
      live.sort((a, b) => a - b);
      // Every mailbox once, in id order: one allocation and one insert for all the group's messages to it.
      const perMailbox = new Map<
        number,
        { item: number; target: number; messages: readonly NewMessage[] }[]
      >();
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
    });
  }

  /** Forgets dedupe keys older than the window (they can no longer match); returns how many. */
  async pruneDedupeKeys(windowSeconds: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      "DELETE FROM delivery_dedupe WHERE created_at < now() - $1 * interval '1 second'",
      [windowSeconds],
    );
    return rowCount ?? 0;
  }

  /** STORE: changes flags of the given UIDs; only messages whose flags really change get a new MODSEQ. */
  async updateFlags(u: FlagUpdate): Promise<FlagUpdateResult> {
    const { bits, keywords } = encodeFlags(u.flags);
    // New flag bits and keywords per operation, as SQL over the row's current values.
    const newFlags =
      u.operation === "set"
        ? "$3::smallint"
        : u.operation === "add"
          ? "(flags | $3::smallint)"
          : "(flags & ~$3::smallint)";
    const newKeywords =
      u.operation === "set"
        ? "$4::text[]"
        : u.operation === "add"
          ? "(keywords || ARRAY(SELECT k FROM unnest($4::text[]) k WHERE NOT k = ANY(keywords)))"
          : "ARRAY(SELECT k FROM unnest(keywords) k WHERE NOT k = ANY($4::text[]))";
    const addKeywords = u.operation !== "remove" && keywords.length > 0;
    // Under the row lock (taken with BEGIN), one statement: the MODIFIED test, the
    // update, the mailbox's new HIGHESTMODSEQ (and keywords) when something changed,
    // and every requested message's state after it. Its snapshot is taken after the
    // lock, so the rows it didn't change are current too.
    return withMailboxLock(this.pool, u.mailboxId, async (tx, head) => {
      if (head === undefined) throw new MailboxNotFoundError(u.mailboxId);
      const modseq = head + 1;
      type Change = [number, number, number, string[]];
      const { rows } = await tx.query<{
        updated: Change[] | null;
        modified: number[] | null;
        current: Change[] | null;
      }>(
        `WITH modified AS (
           SELECT uid FROM messages
            WHERE $6::bigint IS NOT NULL AND mailbox_id = $1 AND uid = ANY($2::bigint[]) AND modseq > $6
         ), upd AS (
           UPDATE messages SET flags = ${newFlags}, keywords = ${newKeywords}, modseq = $5
            WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])
              AND ($6::bigint IS NULL OR modseq <= $6)
              AND (flags <> ${newFlags} OR keywords <> ${newKeywords})
            RETURNING uid, modseq, flags, keywords
         ), bump AS (
           UPDATE mailboxes SET highestmodseq = $5${
             addKeywords
               ? `, keywords = CASE WHEN keywords @> $4::text[] THEN keywords
                   ELSE keywords || ARRAY(SELECT k FROM unnest($4::text[]) k WHERE NOT k = ANY(keywords)) END`
               : ""
           }
            WHERE id = $1 AND EXISTS (SELECT 1 FROM upd)
         )
         SELECT (SELECT json_agg(json_build_array(uid, modseq, flags, keywords) ORDER BY uid) FROM upd) AS updated,
                (SELECT json_agg(uid ORDER BY uid) FROM modified) AS modified,
                (SELECT json_agg(json_build_array(m.uid, coalesce(c.modseq, m.modseq), coalesce(c.flags, m.flags),
                                                  coalesce(c.keywords, m.keywords)) ORDER BY m.uid)
                   FROM messages m LEFT JOIN upd c ON c.uid = m.uid
                  WHERE m.mailbox_id = $1 AND m.uid = ANY($2::bigint[])) AS current`,
        [u.mailboxId, u.uids, bits, keywords, modseq, u.unchangedSince ?? null],
      );
      const toChanges = (list: Change[] | null) =>
        (list ?? []).map(([uid, m, flags, kw]) => ({ uid, modseq: m, flags, keywords: kw }));
      const r = rows[0]!;
      const updated = toChanges(r.updated);
      const state = toChanges(r.current);
      const modified = r.modified ?? [];
      if (updated.length === 0) return { modseq: head, updated: [], modified, current: state };
      return { modseq, updated, modified, current: state };
    });
  }

  /**
   * Removes messages and logs each UID in the expunge log at one new MODSEQ.
   * With `onlyDeleted`, only those flagged \Deleted (IMAP EXPUNGE / UID EXPUNGE).
   * Returns the expunged UIDs ascending and the MODSEQ (unchanged if none).
   */
  async expunge(
    mailboxId: number,
    uids: readonly number[] | "all",
    opts: { onlyDeleted?: boolean } = {},
  ): Promise<{ uids: number[]; modseq: number }> {
    // Under the row lock (taken with BEGIN), one statement removes the rows, logs
    // them in the expunge log and updates the mailbox's counters and HIGHESTMODSEQ.
    return withMailboxLock(this.pool, mailboxId, async (tx, head) => {
      if (head === undefined) throw new MailboxNotFoundError(mailboxId);
      const modseq = head + 1;
      const { rows } = await tx.query<{ uids: number[] | null }>(
        `WITH gone AS (
           DELETE FROM messages
            WHERE mailbox_id = $1 AND ($2::bigint[] IS NULL OR uid = ANY($2::bigint[]))
              AND (NOT $3 OR flags & ${DELETED} <> 0)
            RETURNING uid, size
         ), logged AS (
           INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, uid, $4 FROM gone
             ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq
         ), bump AS (
           UPDATE mailboxes SET highestmodseq = $4, message_count = message_count - (SELECT count(*) FROM gone),
                  total_size = total_size - (SELECT coalesce(sum(size), 0) FROM gone)
            WHERE id = $1 AND EXISTS (SELECT 1 FROM gone)
         )
         SELECT (SELECT json_agg(uid ORDER BY uid) FROM gone) AS uids`,
        [mailboxId, uids === "all" ? null : uids, opts.onlyDeleted ?? false, modseq],
      );
      const removed = rows[0]?.uids ?? [];
      if (removed.length === 0) return { uids: [], modseq: head };
      return { uids: removed, modseq };
    });
  }

  /**
   * What changed in a mailbox after MODSEQ `since`, in ONE round trip (every
   * IMAP command asks): the mailbox row's primary-key read, and only when its
   * HIGHESTMODSEQ moved past `since` the two index range scans (messages by
   * MODSEQ, the expunge log), aggregated into the same row. One statement sees
   * one snapshot, so head and changes agree.
   */
  async changesSince(mailboxId: number, since: number): Promise<MailboxChanges> {
    const { rows } = await this.pool.query<{
      uidvalidity: number;
      uidnext: number;
      highestmodseq: number;
      changed: [number, number, number, string[]][] | null;
      expunged: number[] | null;
    }>(
      `SELECT b.uidvalidity, b.uidnext, b.highestmodseq,
              CASE WHEN b.highestmodseq > $2 THEN
                (SELECT json_agg(json_build_array(m.uid, m.modseq, m.flags, m.keywords) ORDER BY m.uid)
                   FROM messages m WHERE m.mailbox_id = b.id AND m.modseq > $2) END AS changed,
              CASE WHEN b.highestmodseq > $2 THEN
                (SELECT json_agg(e.uid ORDER BY e.uid)
                   FROM expunged e WHERE e.mailbox_id = b.id AND e.modseq > $2) END AS expunged
         FROM mailboxes b WHERE b.id = $1`,
      [mailboxId, since],
    );
    const h = rows[0];
    if (!h) throw new MailboxNotFoundError(mailboxId);
    return {
      uidValidity: h.uidvalidity,
      uidNext: h.uidnext,
      highestModseq: h.highestmodseq,
      changed: (h.changed ?? []).map(([uid, modseq, flags, keywords]) => ({ uid, modseq, flags, keywords })),
      expunged: h.expunged ?? [],
    };
  }

  /** UIDs (ascending) with flags: the session's initial view at SELECT. */
  async listUids(mailboxId: number): Promise<MessageChange[]> {
    const { rows } = await this.pool.query<MessageChange>(
      "SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = $1 ORDER BY uid",
      [mailboxId],
    );
    return rows.map(toChange);
  }

  /** Number of messages without \Seen (STATUS UNSEEN), from the partial index. */
  async countUnseen(mailboxId: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT count(*)::bigint AS n FROM messages WHERE mailbox_id = $1 AND flags & ${SEEN} = 0`,
      [mailboxId],
    );
    return rows[0]!.n;
  }
}
