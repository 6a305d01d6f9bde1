/**
 * What a SEARCH's text keys need before its one SQL query runs:
 *  - BODY/TEXT are answered by the full-text index inside that query; the
 *    messages the index doesn't cover (no search row yet, or text cut at the
 *    bound: libs/store search/rows.ts unindexedIn) are read here and their
 *    matches added, so answers never depend on the backfill being done;
 *  - HEADER on a field without a column: the index narrows the candidates to
 *    messages whose header text contains the value (plus the unindexed ones),
 *    whose blobs are then checked field by field.
 * A fully indexed mailbox costs one cheap query here and no blob read.
 */
import type { Session } from "../session.ts";
import type { SearchPlan, TextCondition } from "./search-criteria.ts";
import { textMatches } from "./text-search.ts";

export async function resolveTextConditions(session: Session, plan: SearchPlan): Promise<void> {
  if (plan.fullTextConditions.length === 0 && plan.textConditions.length === 0) return;
  const view = session.selected!;
  const store = session.ctx.runtime.store;
  const unindexed = (await store.search.unindexed(view.id))
    .map((m) => m.uid)
    .filter((uid) => view.sequenceOf(uid) > 0);
  const messages = session.ctx.imapMessages;
  const blobs = session.ctx.runtime.blobs;
  if (plan.fullTextConditions.length && unindexed.length) {
    const conditions: TextCondition[] = plan.fullTextConditions.map((c) => ({
      kind: c.kind,
      value: c.value,
      uids: c.scanned,
    }));
    const matches = await textMatches(blobs, await messages.blobsOf(view.id, unindexed), conditions);
    for (const condition of conditions)
      for (const uid of matches.get(condition) ?? []) condition.uids.push(uid);
  }
  for (const condition of plan.textConditions) {
    // "" is in every header field present: the candidates can't be narrowed by the text
    const candidates =
      condition.value === ""
        ? view.allUids()
        : await messages.searchUids(view.id, [
            { kind: "fullText", scope: "header", value: condition.value, scanned: unindexed },
          ]);
    const matches = await textMatches(blobs, await messages.blobsOf(view.id, candidates), [condition]);
    for (const uid of matches.get(condition) ?? []) condition.uids.push(uid);
  }
}
