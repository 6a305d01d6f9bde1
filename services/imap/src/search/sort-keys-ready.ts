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
