/**
 * SORT and THREAD read stored keys (libs/store search/). A message without
 * its search row (not backfilled yet, or its row's write failed after the
 * commit) gets it here first, from its blob, so the order is never computed
 * from missing keys. In a fully indexed mailbox this is one cheap query.
 */
import type { Session } from "../session.ts";

/** Returns true when every message already had its row (nothing was indexed here). */
export async function ensureSortKeys(session: Session): Promise<boolean> {
  const view = session.selected!;
  const missing = (await session.ctx.runtime.store.search.unindexed(view.id)).filter((m) => !m.hasRow);
  if (missing.length) await session.ctx.delivery.searchIndexer.indexStored(missing);
  return missing.length === 0;
}

/**
 * ensureSortKeys, and (for a cacheable answer: `all`) the mailbox's
 * HIGHESTMODSEQ read at the same time, before the keys are: a change after
 * it raises it past what a cached answer records (selected-mailbox.ts).
 * `complete` is false when some message was indexed here; such an answer is
 * not kept.
 */
export async function sortKeysAndHead(
  session: Session,
  all: boolean,
): Promise<{ complete: boolean; head: number | undefined }> {
  const view = session.selected!;
  const [complete, heads] = await Promise.all([
    ensureSortKeys(session),
    all ? session.ctx.runtime.store.mailboxes.highestModseqs([view.id]) : undefined,
  ]);
  return { complete, head: heads?.get(view.id) };
}
