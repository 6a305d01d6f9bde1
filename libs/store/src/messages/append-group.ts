/**
 * Group commit in ONE round trip (SMTP-in under load, libs/delivery
 * group-commit.ts): the same rows, locks and outcome as appendGroupIn, but
 * sent as one simple-protocol message of several statements, which
 * PostgreSQL runs as one implicit transaction (all or nothing, committed
 * when the message ends, one WAL flush), instead of BEGIN, the dedupe claim,
 * an UPDATE and an INSERT per mailbox, and COMMIT, each waiting for the one
 * before.
 *
 * The statements cannot read each other's answers, so each mailbox's
 * statement finds out itself which deliveries the claim let through: a
 * dedupe row this transaction wrote (claimed now) has our transaction id as
 * its xmin; a key claimed within the window by someone else keeps theirs.
 * Lock order is appendGroupIn's: the dedupe keys sorted, then the mailboxes
 * by id. A mailbox that is gone makes its INSERT violate the foreign key, so
 * the whole message fails and nothing is visible (the caller retries the
 * deliveries one by one through appendGroupIn, which names the error).
 * Parameters are inlined as literals (db.ts inlineParams): the simple
 * protocol has none.
 */
import { inlineParams, type Queryable } from "../db.ts";
import {
  type Appended,
  type GroupedAppend,
  type GroupedAppendResult,
  insertSql,
  mailboxKeywordsAddSql,
  type NewMessage,
  requireMessagesPerTarget,
  rowColumns,
} from "./append.ts";

/** As claimDedupeKeys (delivery-dedupe.ts): the keys claimed now come back. */
const CLAIM_SQL = `INSERT INTO delivery_dedupe (key, created_at) SELECT k, now() FROM unnest($1::text[]) AS k
  ON CONFLICT (key) DO UPDATE SET created_at = now()
   WHERE delivery_dedupe.created_at < now() - $2 * interval '1 second'
  RETURNING key`;

/**
 * One mailbox's share of the group: $1 the mailbox, $3..$21 rowColumns'
 * arrays (u.uid = the row's 0-based position), $22 each row's dedupe key
 * (NULL: none). `live` numbers the rows that go in; the UPDATE allocates
 * their UIDs and MODSEQ only when there are any; the INSERT joins the
 * allocation with a LEFT JOIN so that a missing mailbox fails on the foreign
 * key instead of dropping rows whose keys were claimed.
 */
const MAILBOX_SQL = `WITH live AS (
    SELECT d.o, row_number() OVER (ORDER BY d.o) - 1 AS k
      FROM unnest($22::text[]) WITH ORDINALITY AS d(key, o)
     WHERE d.key IS NULL
        OR EXISTS (SELECT 1 FROM delivery_dedupe x WHERE x.key = d.key AND x.xmin = pg_current_xact_id()::xid)
  ), n AS (
    SELECT count(*)::bigint AS c, coalesce(sum(s.size), 0)::bigint AS bytes
      FROM live JOIN unnest($7::bigint[]) WITH ORDINALITY AS s(size, o) ON s.o = live.o
  ), a AS (
    UPDATE mailboxes
       SET uidnext = uidnext + n.c, highestmodseq = highestmodseq + 1,
           message_count = message_count + n.c, total_size = total_size + n.bytes,
           keywords = ${mailboxKeywordsAddSql(
             `ARRAY(SELECT DISTINCT w FROM live JOIN unnest($5::text[]) WITH ORDINALITY AS kw(j, o) ON kw.o = live.o,
                    jsonb_array_elements_text(kw.j::jsonb) AS w)`,
           )}
      FROM n
     WHERE id = $1 AND n.c > 0
     RETURNING account_id, uidvalidity, uidnext - n.c AS first_uid, highestmodseq AS modseq
  ), ins AS (
    ${insertSql("coalesce(a.modseq, 0)", "coalesce(a.first_uid, 0) + live.k", "(SELECT 1) one LEFT JOIN a ON true, live, ")}
     WHERE live.o = u.uid + 1
    RETURNING 1
  )
  SELECT a.account_id, a.uidvalidity, a.first_uid, a.modseq,
         (SELECT count(*) FROM ins) AS inserted, ARRAY(SELECT o FROM live ORDER BY o) AS live
    FROM (SELECT 1) one LEFT JOIN a ON true`;

interface MailboxRow {
  account_id: number | null;
  uidvalidity: number | null;
  first_uid: number | null;
  modseq: number | null;
  live: (number | string)[];
}

interface Part {
  item: number;
  target: number;
  messages: readonly NewMessage[];
  key: string | null;
}

/** appendGroupIn's outcome for `items`, committed in one round trip on `db` (a pool: no transaction of its own). */
export async function appendGroupAtOnce(
  db: Queryable,
  items: readonly GroupedAppend[],
): Promise<GroupedAppendResult[]> {
  requireMessagesPerTarget(items);
  const results: (GroupedAppendResult | undefined)[] = new Array(items.length);
  // A key repeated within the group: the first item claims it, the repeat is its duplicate.
  const claimers = new Map<string, number>();
  const byWindow = new Map<number, string[]>();
  const candidates: number[] = [];
  for (const [i, item] of items.entries()) {
    if (!item.dedupe) {
      candidates.push(i);
    } else if (claimers.has(item.dedupe.key)) {
      results[i] = { duplicate: true };
    } else {
      claimers.set(item.dedupe.key, i);
      candidates.push(i);
      const keys = byWindow.get(item.dedupe.windowSeconds) ?? [];
      keys.push(item.dedupe.key);
      byWindow.set(item.dedupe.windowSeconds, keys);
    }
  }
  const statements: string[] = [];
  for (const [windowSeconds, keys] of byWindow) {
    statements.push(inlineParams(CLAIM_SQL, [[...keys].sort(), windowSeconds]));
  }
  const claims = statements.length;
  const perMailbox = new Map<number, Part[]>();
  for (const i of candidates) {
    const item = items[i]!;
    item.targets.forEach((t, ti) => {
      const parts = perMailbox.get(t.mailboxId) ?? [];
      parts.push({ item: i, target: ti, messages: t.messages, key: item.dedupe?.key ?? null });
      perMailbox.set(t.mailboxId, parts);
    });
  }
  const mailboxes = [...perMailbox.keys()].sort((a, b) => a - b);
  for (const mailboxId of mailboxes) {
    const parts = perMailbox.get(mailboxId)!;
    const { params } = rowColumns(
      parts.flatMap((p) => p.messages),
      0,
    );
    const keys = parts.flatMap((p) => p.messages.map(() => p.key));
    statements.push(inlineParams(MAILBOX_SQL, [mailboxId, null, ...params, keys]));
  }
  if (statements.length === 0) return results as GroupedAppendResult[];
  const answer = (await db.query(statements.join(";\n"))) as unknown;
  const answers = (Array.isArray(answer) ? answer : [answer]) as { rows: unknown[] }[];

  const claimed = new Set<string>();
  for (let s = 0; s < claims; s++) for (const r of answers[s]!.rows as { key: string }[]) claimed.add(r.key);
  const appended = new Map<number, Appended[]>();
  mailboxes.forEach((mailboxId, m) => {
    const row = answers[claims + m]!.rows[0] as MailboxRow;
    const live = new Set(row.live.map(Number));
    let ordinal = 1;
    let next = row.first_uid ?? 0;
    for (const p of perMailbox.get(mailboxId)!) {
      const first = ordinal;
      ordinal += p.messages.length;
      // Every row of a delivery is live or none is (its key was claimed now, or not).
      if (!live.has(first)) continue;
      const list = appended.get(p.item) ?? new Array(items[p.item]!.targets.length);
      list[p.target] = {
        mailboxId,
        accountId: row.account_id!,
        uidValidity: row.uidvalidity!,
        uids: p.messages.map((_, k) => next + k),
        modseq: row.modseq!,
      };
      appended.set(p.item, list);
      next += p.messages.length;
    }
  });
  for (const i of candidates) {
    const key = items[i]!.dedupe?.key;
    results[i] =
      key === undefined || claimed.has(key)
        ? { duplicate: false, appended: appended.get(i)! }
        : { duplicate: true };
  }
  return results as GroupedAppendResult[];
}
