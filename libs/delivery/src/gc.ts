/**
 * Blob garbage collection. A delivery writes its blob before the transaction
 * that inserts the rows pointing at it (deliver.ts), so a crash, a failed
 * transaction or a deduplicated retry can leave a blob no row references. Those
 * are harmless but take space; this removes them.
 *
 * A blob is deleted only when no message row references it AND it is older
 * than a grace period: a delivery in flight has stored its blob but not yet
 * committed its rows, and that blob must survive until the commit. The grace
 * period must exceed the longest delivery (minutes, not seconds: one hour is a
 * safe default). Each candidate's reference is checked again right before its
 * delete, which narrows (but, without a lease, cannot close) the window in which
 * a new delivery of byte-identical content reuses an old unreferenced blob;
 * content from SMTP carries our Received header with a time stamp and session
 * id, so only IMAP APPEND of an identical message could meet it.
 */
import { stat } from "node:fs/promises";
import type { BlobStore } from "@aerogram/blobstore";
import type { Store } from "@aerogram/store";

export interface CollectOrphanBlobsOptions {
  store: Pick<Store, "pool">;
  blobs: BlobStore;
  /** Grace period: blobs younger than this are never deleted. */
  olderThanMs: number;
  /**
   * When a blob was written (undefined when it no longer exists). Default: the
   * file's mtime on a filesystem blob store; other stores must supply it (on S3,
   * a HeadObject's LastModified).
   */
  lastModified?: (key: string) => Promise<Date | undefined>;
  /** Clock, for tests. */
  now?: () => number;
  /** Report what would be deleted without deleting. */
  dryRun?: boolean;
  /** Keys checked against the database per query (default 500). */
  batchSize?: number;
}

export interface CollectOrphanBlobsResult {
  /** Blobs listed. */
  scanned: number;
  /** Blobs some message row references. */
  referenced: number;
  /** Unreferenced blobs kept because they are within the grace period (or vanished meanwhile). */
  kept: number;
  /** Keys deleted (or, with dryRun, that would be). */
  deleted: string[];
}

function defaultLastModified(blobs: BlobStore): (key: string) => Promise<Date | undefined> {
  const pathOf = (blobs as { pathOf?: (key: string) => string }).pathOf;
  if (typeof pathOf !== "function") {
    throw new Error("collectOrphanBlobs: this blob store needs a lastModified(key) function");
  }
  return async (key) => {
    try {
      return (await stat(pathOf.call(blobs, key))).mtime;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  };
}

async function referencedKeys(store: Pick<Store, "pool">, keys: readonly string[]): Promise<Set<string>> {
  const { rows } = await store.pool.query<{ blob_key: string }>(
    // Queued outbound mail (issue 19) holds its blob until delivered or bounced.
    `SELECT blob_key FROM messages WHERE blob_key = ANY($1::text[])
     UNION SELECT blob_key FROM outbound_queue WHERE blob_key = ANY($1::text[])`,
    [keys],
  );
  return new Set(rows.map((r) => r.blob_key));
}

/** Deletes blobs that no message row references and that are older than the grace period. */
export async function collectOrphanBlobs(opts: CollectOrphanBlobsOptions): Promise<CollectOrphanBlobsResult> {
  if (!(opts.olderThanMs >= 0)) throw new Error("collectOrphanBlobs: olderThanMs must be >= 0");
  const lastModified = opts.lastModified ?? defaultLastModified(opts.blobs);
  const now = opts.now ?? Date.now;
  const batchSize = opts.batchSize ?? 500;
  const result: CollectOrphanBlobsResult = { scanned: 0, referenced: 0, kept: 0, deleted: [] };

  const sweep = async (batch: string[]) => {
    const referenced = await referencedKeys(opts.store, batch);
    result.referenced += referenced.size;
    for (const key of batch) {
      if (referenced.has(key)) continue;
      const written = await lastModified(key);
      if (!written || now() - written.getTime() < opts.olderThanMs) {
        result.kept++;
        continue;
      }
      // A row may have committed since the batch query: look once more, right before deleting.
      if ((await referencedKeys(opts.store, [key])).size > 0) {
        result.referenced++;
        continue;
      }
      if (!opts.dryRun) await opts.blobs.delete(key);
      result.deleted.push(key);
    }
  };

  let batch: string[] = [];
  for await (const key of opts.blobs.list()) {
    result.scanned++;
    batch.push(key);
    if (batch.length >= batchSize) {
      await sweep(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await sweep(batch);
  return result;
}
