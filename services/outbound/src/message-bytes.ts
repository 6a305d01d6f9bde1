/**
 * Where a queued message's bytes are: in the row itself (submission keeps a
 * small message for remote recipients only there, so its commit was the one
 * flush before the 250) or in the blob store. Everything the worker sends
 * or quotes (the transfer, RET=FULL returns, the headers in a DSN) reads
 * through here, so no caller assumes a blob.
 */
import { Readable } from "node:stream";
import type { BlobStore } from "@aerogram/blobstore";
import type { OutboundEntry } from "@aerogram/store";

type Source = Pick<OutboundEntry, "id" | "blobKey" | "content">;

/** The whole message, or `length` octets from `offset`. */
export async function readMessage(
  blobs: BlobStore,
  entry: Source,
  offset?: number,
  length?: number,
): Promise<Buffer> {
  if (entry.content) {
    const from = offset ?? 0;
    return entry.content.subarray(from, length === undefined ? undefined : from + length);
  }
  if (entry.blobKey === null) throw new Error(`queue entry ${entry.id} has neither content nor a blob`);
  return blobs.read(entry.blobKey, offset, length);
}

/** The message as a stream (the non-pipelined transfer). */
export async function streamMessage(blobs: BlobStore, entry: Source): Promise<Readable> {
  if (entry.content) return Readable.from([entry.content]);
  if (entry.blobKey === null) throw new Error(`queue entry ${entry.id} has neither content nor a blob`);
  return blobs.get(entry.blobKey);
}
