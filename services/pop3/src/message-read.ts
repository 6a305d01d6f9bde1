/**
 * Reading a message for RETR and TOP. Most mail is small: such a blob is read
 * whole, with as few round trips as the store allows (on the filesystem one
 * open and one read, where a stream costs open, read, read-to-EOF and the
 * stream machinery), and answered in one write. Larger messages stream.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { BlobNotFoundError, type BlobStore, FsBlobStore } from "@aerogram/blobstore";
import type { Config } from "@aerogram/config";

/** Where a filesystem blob store keeps a blob (FsBlobStore.pathOf); unset for other stores. */
export type BlobPath = (key: string) => string;

/**
 * The file path of blobs when the configuration puts them on the filesystem.
 * (The runtime's store is wrapped for metrics, so it can't be asked itself.)
 */
export function filesystemBlobPath(config: Config["blobs"]): BlobPath | undefined {
  if (config.kind !== "fs") return undefined;
  const store = new FsBlobStore({ dir: config.dir });
  return (key) => store.pathOf(key);
}

/** Messages up to this many stored octets are read whole; larger ones stream. */
export const WHOLE_READ_MAX_OCTETS = 256 * 1024;

/**
 * The whole blob, expected to be `expectedOctets` long: with `blobPath`
 * straight from its file, else through the store. Undefined when a
 * filesystem blob turns out longer (the caller streams it then). Rejects with
 * BlobNotFoundError when absent.
 *
 * The file is read synchronously (open, one read, close on the event loop's
 * thread), as Dovecot's pop3 processes read maildir files: for a small file
 * in the page cache that costs ~15 µs of CPU, where the same three calls
 * through libuv's thread pool cost ~120 µs (a hand-off and wake-up each),
 * which at thousands of RETR/s was a quarter of the gateway's CPU. The
 * price is that a page-cache miss blocks the loop for one disk read of at
 * most WHOLE_READ_MAX_OCTETS; filesystem blobs are the single-node default
 * (production keeps blobs in S3, which this path never touches).
 */
export async function readWholeBlob(
  blobs: BlobStore,
  key: string,
  expectedOctets: number,
  blobPath?: BlobPath,
): Promise<Buffer | undefined> {
  // Other stores (S3): one GET, kept whatever its length.
  if (!blobPath) return blobs.read(key);
  let fd: number;
  try {
    fd = openSync(blobPath(key), "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new BlobNotFoundError(key);
    throw error;
  }
  // One octet more than expected tells "exactly this long" from "longer". A
  // regular file's read returns less than asked for only at its end.
  const buffer = Buffer.allocUnsafe(expectedOctets + 1);
  try {
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    return n === buffer.length ? undefined : buffer.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
