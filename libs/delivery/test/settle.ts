/**
 * Runs a reclaimer until nothing is pending. A release becomes due only once
 * every transaction running when it became visible has ended (the horizon of
 * migration 030); on the shared test server other files' transactions can
 * hold that back for a moment, so a test drains until the queue is empty
 * instead of expecting one drain to find everything due.
 */
import type { Store } from "@aerogram/store";
import type { BlobReclaimer, ReclaimTotals } from "../src/index.ts";

export async function settle(r: BlobReclaimer, store: Pick<Store, "blobReclaim">): Promise<ReclaimTotals> {
  const sum: ReclaimTotals = { deleted: 0, bytes: 0, kept: 0, failed: 0 };
  for (let i = 0; i < 600; i++) {
    const t = await r.drain();
    sum.deleted += t.deleted;
    sum.bytes += t.bytes;
    sum.kept += t.kept;
    sum.failed += t.failed;
    if ((await store.blobReclaim.stats()).pendingObjects === 0) return sum;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("released blobs never became due");
}
