/** Range handling and buffering shared by every BlobStore implementation. */
import { Readable } from "node:stream";
import type { BlobStore } from "./types.ts";

/**
 * Validates getRange/read arguments. `length` may be Infinity, meaning "to the
 * end of the blob" (what read(key, offset) asks for).
 */
export function assertRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`blob range offset must be a non-negative integer, got ${offset}`);
  }
  if (!(Number.isSafeInteger(length) || length === Number.POSITIVE_INFINITY) || length < 0) {
    throw new RangeError(`blob range length must be a non-negative integer, got ${length}`);
  }
}

/** The stream returned for zero-length ranges and ranges starting at or past the end. */
export function emptyStream(): Readable {
  return Readable.from([]);
}

/** Reads a whole stream into one Buffer. Only for content the caller has chosen to hold in memory. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** BlobStore.read in terms of get/getRange, so every store buffers ranges the same way. */
export async function readIntoBuffer(
  store: Pick<BlobStore, "get" | "getRange">,
  key: string,
  offset = 0,
  length = Number.POSITIVE_INFINITY,
): Promise<Buffer> {
  if (offset === 0 && length === Number.POSITIVE_INFINITY) return collect(await store.get(key));
  return collect(await store.getRange(key, offset, length));
}
