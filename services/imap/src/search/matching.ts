/**
 * The UIDs (ascending, in the session's view) matching SEARCH keys: shared by
 * SEARCH, SORT and THREAD (RFC 5256 §3: their search criteria are SEARCH's).
 * One SQL query in libs/store, after the text keys (full-text.ts) and the
 * SENT* keys (sent-date.ts) are resolved to what it needs.
 */
import type { SearchKey } from "@aerogram/imap-protocol";
import { readerCriteria } from "../private-seen.ts";
import type { Session } from "../session.ts";
import { resolveTextConditions } from "./full-text.ts";
import { planSearch } from "./search-criteria.ts";
import { sentDay } from "./sent-date.ts";

export async function matchingUids(session: Session, keys: readonly SearchKey[]): Promise<number[]> {
  const view = session.selected!;
  const plan = planSearch(keys, view, session.savedSearch);
  const messages = session.ctx.imapMessages;
  await resolveTextConditions(session, plan);
  if (plan.sentDateConditions.length) {
    const rows = await messages.sentDateRows(view.id);
    const days = rows.map((r) => ({
      uid: r.uid,
      day: sentDay(r.envelopeStart, r.headerDate, r.internalDate),
    }));
    for (const condition of plan.sentDateConditions) {
      const test =
        condition.op === "before"
          ? (day: string) => day < condition.date
          : condition.op === "on"
            ? (day: string) => day === condition.date
            : (day: string) => day >= condition.date;
      for (const d of days) if (test(d.day)) condition.uids.push(d.uid);
    }
  }
  const criteria = await readerCriteria(session, view, plan.criteria);
  return (await messages.searchUids(view.id, criteria)).filter((uid) => view.sequenceOf(uid) > 0);
}

/** Whether the keys select every message (SORT/THREAD ALL: no UID list to pass). */
export function selectsAll(keys: readonly SearchKey[]): boolean {
  return keys.every((k) => k.key === "ALL");
}
