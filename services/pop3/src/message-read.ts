/**
 * Reading a message for RETR and TOP. Most mail is small: such a blob is read
 * whole, with as few round trips as the store allows (on the filesystem one
 * open and one read, where a stream costs open, read, read-to-EOF and the
 * stream machinery), and answered in one write. Larger messages stream.
 */
import { close, open, read } from "node:fs";
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
 */
export async function readWholeBlob(
  blobs: BlobStore,
  key: string,
  expectedOctets: number,
  blobPath?: BlobPath,
): Promise<Buffer | undefined> {
  // Other stores (S3): one GET, kept whatever its length.
  if (!blobPath) return blobs.read(key);
  const path = blobPath(key);
  const fd = await new Promise<number>((resolve, reject) =>
    open(path, "r", (error, fd) => {
      if (!error) resolve(fd);
      else reject(error.code === "ENOENT" ? new BlobNotFoundError(key) : error);
    }),
  );
  // One octet more than expected tells "exactly this long" from "longer". A
  // regular file's read returns less than asked for only at its end.
  const buffer = Buffer.allocUnsafe(expectedOctets + 1);
  try {
    const n = await new Promise<number>((resolve, reject) =>
      read(fd, buffer, 0, buffer.length, 0, (error, bytesRead) =>
        error ? reject(error) : resolve(bytesRead),
      ),
    );
    return n === buffer.length ? undefined : buffer.subarray(0, n);
  } finally {
    close(fd, () => {});
  }
}
