/**
 * Blob store on a local (or network) filesystem: the embedded default, and fine
 * for a single node. Blobs live at `dir/ab/cd/<sha256>` so no directory grows
 * past 65536 entries; writes go through `dir/tmp/` and an atomic rename, so a
 * crash can leave stray temp files but never a partial blob under a real key.
 */
import { createReadStream, constants as fsConstants } from "node:fs";
import { access, type FileHandle, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { assertBlobKey, sha256Hex } from "./keys.ts";
import { assertRange, emptyStream } from "./reading.ts";
import { removeQuietly, type SpooledContent, spoolPath, spoolToFile } from "./spool.ts";
import { BLOB_KEY_RE, BlobNotFoundError, type BlobStore, type PutResult } from "./types.ts";

export interface FsBlobStoreOptions {
  /** Root directory; created on first use. */
  dir: string;
}

const FAN_OUT_RE = /^[0-9a-f]{2}$/;

export class FsBlobStore implements BlobStore {
  readonly dir: string;
  /** Where puts are spooled before being renamed into place; same filesystem as `dir`, so rename is atomic. */
  readonly tmpDir: string;
  #tmpDirReady: Promise<unknown> | undefined;

  constructor(options: FsBlobStoreOptions) {
    this.dir = options.dir;
    this.tmpDir = join(options.dir, "tmp");
  }

  /** The final path of a blob. */
  pathOf(key: string): string {
    assertBlobKey(key);
    return join(this.dir, key.slice(0, 2), key.slice(2, 4), key);
  }

  async put(content: Readable | AsyncIterable<Uint8Array>): Promise<PutResult> {
    const spooled = await spoolToFile(content, spoolPath(await this.#ensureTmpDir()), { durable: true });
    return this.#commit(spooled);
  }

  async putBuffer(content: Uint8Array): Promise<PutResult> {
    // Hashing first makes re-storing known content (one message, many recipients) free of disk writes.
    const key = sha256Hex(content);
    if (await this.#exists(this.pathOf(key))) return { key, size: content.byteLength, created: false };
    return this.put(Readable.from([content]));
  }

  async get(key: string): Promise<Readable> {
    return this.getRange(key, 0, Number.POSITIVE_INFINITY);
  }

  async getRange(key: string, offset: number, length: number): Promise<Readable> {
    assertRange(offset, length);
    const path = this.pathOf(key);
    if (length === 0) {
      // createReadStream cannot express an empty range, but a missing blob must still be reported.
      if (!(await this.#exists(path))) throw new BlobNotFoundError(key);
      return emptyStream();
    }
    // A start past the end simply yields no data, which is the documented behaviour.
    const stream = createReadStream(path, {
      start: offset,
      ...(length === Number.POSITIVE_INFINITY ? {} : { end: offset + length - 1 }),
    });
    // Wait for the open so a missing blob rejects here rather than erroring the stream later.
    await new Promise<void>((resolve, reject) => {
      stream.once("ready", () => {
        stream.off("error", reject);
        resolve();
      });
      stream.once("error", reject);
    }).catch((err: unknown) => {
      stream.destroy();
      throw isNotFound(err) ? new BlobNotFoundError(key) : err;
    });
    return stream;
  }

  /**
   * A range into memory with one open, positional reads and a close on the thread
   * pool: no stream, no async iterator, no Buffer.concat (FETCH of small bodies and
   * headers is most of the reads; the stream path is getRange's, for big literals).
   */
  async read(key: string, offset = 0, length = Number.POSITIVE_INFINITY): Promise<Buffer> {
    assertRange(offset, length);
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(key), "r");
    } catch (err) {
      throw isNotFound(err) ? new BlobNotFoundError(key) : err;
    }
    try {
      const want =
        length === Number.POSITIVE_INFINITY ? Math.max(0, (await handle.stat()).size - offset) : length;
      const buffer = Buffer.allocUnsafe(want);
      let filled = 0;
      while (filled < want) {
        const { bytesRead } = await handle.read(buffer, filled, want - filled, offset + filled);
        if (bytesRead === 0) break; // past the end: a shorter range, as getRange gives
        filled += bytesRead;
      }
      return filled === want ? buffer : buffer.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      return { size: (await stat(this.pathOf(key))).size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    // Empty fan-out directories are kept: removing them would race a concurrent put renaming into them.
  }

  async *list(opts: { startAfter?: string } = {}): AsyncIterable<string> {
    // Fan-out directories and names sorted: keys come in lexicographic order.
    const after = opts.startAfter ?? "";
    for (const first of await listDir(this.dir, FAN_OUT_RE)) {
      if (first < after.slice(0, 2)) continue;
      for (const second of await listDir(join(this.dir, first), FAN_OUT_RE)) {
        const prefix = first + second;
        if (prefix < after.slice(0, 4)) continue;
        for (const name of await listDir(join(this.dir, first, second), BLOB_KEY_RE)) {
          if (name.startsWith(prefix) && name > after) yield name;
        }
      }
    }
  }

  async ping(): Promise<void> {
    // Puts need to create files in tmp/ and rename them out of it, so that is what must be writable.
    await access(await this.#ensureTmpDir(), fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK);
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  /** Moves a spooled, fsynced temp file to its final key, or drops it if that key already exists. */
  async #commit(spooled: SpooledContent): Promise<PutResult> {
    const { key, size } = spooled;
    const finalPath = this.pathOf(key);
    try {
      if (await this.#exists(finalPath)) return { key, size, created: false };
      const fanOutDir = dirname(finalPath);
      const firstCreated = await mkdir(fanOutDir, { recursive: true });
      await rename(spooled.path, finalPath);
      // The rename is only durable once the directory holding the new entry is synced; when the
      // fan-out directories themselves are new, their own entries in their parents need it too.
      await syncDir(fanOutDir);
      if (firstCreated !== undefined) {
        await syncDir(dirname(fanOutDir));
        await syncDir(this.dir);
      }
      return { key, size, created: true };
    } finally {
      // After a successful rename the temp path no longer exists, so this only cleans up the other paths.
      await removeQuietly(spooled.path);
    }
  }

  #ensureTmpDir(): Promise<string> {
    this.#tmpDirReady ??= mkdir(this.tmpDir, { recursive: true }).catch((err: unknown) => {
      this.#tmpDirReady = undefined; // let a later call retry, e.g. once a volume is mounted
      throw err;
    });
    return this.#tmpDirReady.then(() => this.tmpDir);
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await access(path);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/** Names in `dir` matching `pattern`, sorted; a missing directory has none. */
async function listDir(dir: string, pattern: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => pattern.test(name)).sort();
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
