/**
 * The full-listing audit (`mailctl gc`, the Helm CronJob): the rare repair
 * tool for blobs the reference queue never heard of (a process killed between
 * storing a blob and committing or releasing it, blobs from before migration
 * 030). It lists the bucket in key order, checks each page of keys against
 * the rows that reference blobs, and hands the unreferenced ones to the
 * reclaimer's queue rather than deleting them itself: the reclaimer then
 * applies the same grace period, reference re-check and tombstone as for any
 * release, so the audit needs no clock of the blob store and cannot race a
 * delivery in flight. The position is saved after every page, so an audit
 * of billions of keys resumes where it stopped.
 */
import type { BlobStore } from "@aerogram/blobstore";
import type { Store } from "@aerogram/store";

export interface BlobAuditOptions {
  store: Pick<Store, "messages" | "blobReclaim">;
  blobs: Pick<BlobStore, "list" | "stat">;
  /** Report only: release nothing. */
  dryRun?: boolean;
  /** Keys per reference check (default 1000). */
  pageSize?: number;
  /** Resume from the saved position (default true); false starts over. */
  resume?: boolean;
  /** Called after every page. */
  onProgress?: (p: BlobAuditResult) => void;
  /** Progress record id (default "default"). */
  id?: string;
}

export interface BlobAuditResult {
  scanned: number;
  referenced: number;
  /** Unreferenced keys handed to the reclaimer (or, with dryRun, that would be). */
  released: number;
  releasedBytes: number;
  /** The last key examined. */
  lastKey: string | null;
  /** Where this run started (null: from the beginning). */
  resumedAfter: string | null;
}

export async function auditBlobs(opts: BlobAuditOptions): Promise<BlobAuditResult> {
  const id = opts.id ?? "default";
  const pageSize = opts.pageSize ?? 1000;
  const saved = opts.resume === false ? undefined : await opts.store.blobReclaim.auditProgress(id);
  const startAfter = saved?.afterKey ?? null;
  const result: BlobAuditResult = {
    scanned: saved?.scanned ?? 0,
    referenced: 0,
    released: saved?.deleted ?? 0,
    releasedBytes: 0,
    lastKey: startAfter,
    resumedAfter: startAfter,
  };

  const check = async (keys: string[]) => {
    const referenced = await opts.store.messages.referencedBlobKeys(keys);
    result.referenced += referenced.size;
    const orphans: { key: string; size: number }[] = [];
    for (const key of keys) {
      if (referenced.has(key)) continue;
      orphans.push({ key, size: (await opts.blobs.stat(key))?.size ?? 0 });
    }
    if (!opts.dryRun) await opts.store.blobReclaim.release(orphans);
    result.released += orphans.length;
    result.releasedBytes += orphans.reduce((n, o) => n + o.size, 0);
    result.scanned += keys.length;
    result.lastKey = keys[keys.length - 1] ?? result.lastKey;
    if (!opts.dryRun)
      await opts.store.blobReclaim.saveAuditProgress(id, {
        afterKey: result.lastKey,
        scanned: result.scanned,
        deleted: result.released,
      });
    opts.onProgress?.(result);
  };

  let page: string[] = [];
  for await (const key of opts.blobs.list(startAfter ? { startAfter } : {})) {
    page.push(key);
    if (page.length >= pageSize) {
      await check(page);
      page = [];
    }
  }
  if (page.length > 0) await check(page);
  // A complete pass: the next audit starts from the beginning.
  if (!opts.dryRun) await opts.store.blobReclaim.clearAuditProgress(id);
  return result;
}
