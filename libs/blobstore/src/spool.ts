/**
 * Content addressing means the key is only known once the last byte has been
 * seen, so both stores first copy the incoming stream to a local temp file while
 * hashing it, then decide (by key) whether and where to store it.
 */
import { createHash, randomUUID } from "node:crypto";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";

export interface SpooledContent {
  /** The temp file holding the content. */
  path: string;
  /** sha256 hex of the content. */
  key: string;
  size: number;
}

export interface SpoolOptions {
  /** fsync the file before resolving. */
  durable: boolean;
}

/** A spooled file still open for writing: the fs store names it, then flushes it. */
export interface OpenSpool extends SpooledContent {
  file: FileHandle;
}

/** A fresh, unused file name inside `dir` for one spool. */
export function spoolPath(dir: string): string {
  return join(dir, `${randomUUID()}.part`);
}

/**
 * Streams `source` into a new file at `path`, hashing and counting as it goes;
 * memory use is one chunk at a time regardless of size. On failure the partial
 * file is removed and the error rethrown.
 */
export async function spoolToFile(
  source: Readable | AsyncIterable<Uint8Array>,
  path: string,
  options: SpoolOptions,
): Promise<SpooledContent> {
  const { file, ...spooled } = await spoolToOpenFile(source, path);
  try {
    if (options.durable) await file.sync();
    await file.close();
  } catch (err) {
    await file.close().catch(() => {});
    await removeQuietly(path);
    throw err;
  }
  return spooled;
}

/**
 * spoolToFile, but the file is left open and unflushed: FsBlobStore links it
 * to its key and then flushes the file and the directory at the same time.
 * The caller closes it (and removes the temp name).
 */
export async function spoolToOpenFile(
  source: Readable | AsyncIterable<Uint8Array>,
  path: string,
): Promise<OpenSpool> {
  const hash = createHash("sha256");
  let size = 0;
  // "wx": never clobber another writer's file, even if a name ever repeated.
  const file = await open(path, "wx", 0o640);
  try {
    // Awaiting each write is the backpressure: one chunk in memory at a time.
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.byteLength;
      await writeFully(file, chunk);
    }
  } catch (err) {
    await file.close().catch(() => {});
    await removeQuietly(path);
    throw err;
  }
  return { path, key: hash.digest("hex"), size, file };
}

/**
 * A buffer whose hash the caller has (FsBlobStore.putBuffer) into a new file
 * at `path`, left open and unflushed as spoolToOpenFile leaves it: one write,
 * no stream, no second hashing.
 */
export async function spoolBufferToOpenFile(content: Uint8Array, path: string): Promise<FileHandle> {
  const file = await open(path, "wx", 0o640);
  try {
    await writeFully(file, content);
  } catch (err) {
    await file.close().catch(() => {});
    await removeQuietly(path);
    throw err;
  }
  return file;
}

/** Deletes a file if it exists; used for temp files, where a failure to clean up must not mask the real outcome. */
export async function removeQuietly(path: string): Promise<void> {
  // unlink, not rm: rm looks the path up first, a second system call per put.
  await unlink(path).catch(() => {});
}

/** file.write may write less than asked; loop until the whole chunk is on its way to disk. */
export async function writeFully(file: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let written = 0; written < chunk.byteLength; ) {
    written += (await file.write(chunk, written, chunk.byteLength - written)).bytesWritten;
  }
}
