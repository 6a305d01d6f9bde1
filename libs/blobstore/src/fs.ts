/**
 * Blob store on a local (or network) filesystem: the embedded default, and fine
 * for a single node. Blobs live at `dir/ab/cd/<sha256>` so no directory grows
 * past 65536 entries; writes go through `dir/tmp/` and an atomic link into
 * place, so a crash can leave stray temp files but never a partial blob under a
 * real key.
 *
 * Durability of a new blob, and why it takes two flushes (POSIX; fsync(2)):
 *
 *   1. the temp file is written and fsynced: its data is on disk, under no real
 *      name yet (a crash leaves a stray temp file);
 *   2. link(temp, final) gives it its real name; the name itself is only durable
 *      once the directory holding it is fsynced (and, for a fan-out directory
 *      created just now, its parents).
 *
 * One flush is not enough in either order: naming before the data flush could
 * leave a torn blob under a real key after a power cut (ext4's delayed
 * allocation does exactly that), which a later put of the same content would
 * then trust as stored; flushing only the data leaves a committed row
 * pointing at a name that may be gone. (On ext4 and XFS the journal is one
 * ordered log, so in practice the second flush of one put also persists
 * every earlier put's name; POSIX does not promise it, so each put waits for
 * its own directory's flush.) What is shared: concurrent puts into one
 * directory wait for one directory flush (DirectorySyncs), and a put of
 * content that is already stored flushes nothing.
 *
 * link instead of "exists? then rename": EEXIST answers "already stored"
 * atomically without a lookup that fails (and builds an error) for every new
 * blob, and never replaces a stored blob. Filesystems without hard links fall
 * back to rename.
 */
import { createReadStream, constants as fsConstants } from "node:fs";
import { access, type FileHandle, link, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { assertBlobKey, sha256Hex } from "./keys.ts";
import { assertRange, emptyStream } from "./reading.ts";
import { removeQuietly, type SpooledContent, spoolBufferToFile, spoolPath, spoolToFile } from "./spool.ts";
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
  readonly #dirSyncs = new DirectorySyncs();
  /** False once link() said this filesystem has no hard links: rename after an existence check. */
  #hardLinks = true;

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
    // One write and one flush of the temp file, no stream. Content that is already
    // stored is found by the link (EEXIST): a re-put costs that write, which is
    // rare (a message to many recipients is stored once), while an existence
    // check first would cost a failed lookup for every new blob.
    const path = spoolPath(await this.#ensureTmpDir());
    await spoolBufferToFile(content, path);
    return this.#commit({ path, key: sha256Hex(content), size: content.byteLength });
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

  /** Gives a spooled, fsynced temp file its final name, or drops it if that key already exists. */
  async #commit(spooled: SpooledContent): Promise<PutResult> {
    const { key, size } = spooled;
    const finalPath = this.pathOf(key);
    const fanOutDir = dirname(finalPath);
    let newDirs = false;
    try {
      let named = await this.#name(spooled.path, finalPath);
      if (named === "no-dir") {
        newDirs = (await mkdir(fanOutDir, { recursive: true })) !== undefined;
        named = await this.#name(spooled.path, finalPath);
      }
      if (named !== "named") return { key, size, created: false };
      // The new name is durable once its directory is flushed; new fan-out
      // directories need their own entries flushed too (parents after children).
      await this.#dirSyncs.sync(fanOutDir);
      if (newDirs) {
        await this.#dirSyncs.sync(dirname(fanOutDir));
        await this.#dirSyncs.sync(this.dir);
      }
      return { key, size, created: true };
    } finally {
      // The temp name goes in every case (after a link it is a second name of the blob).
      await removeQuietly(spooled.path);
    }
  }

  /** Links (or renames) the temp file to its final path: "exists" when that key is already stored. */
  async #name(tempPath: string, finalPath: string): Promise<"named" | "exists" | "no-dir"> {
    if (this.#hardLinks) {
      try {
        await link(tempPath, finalPath);
        return "named";
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") return "exists";
        if (code === "ENOENT") return "no-dir";
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS" && code !== "EOPNOTSUPP") throw err;
        this.#hardLinks = false; // e.g. some network or FUSE filesystems
      }
    }
    if (await this.#exists(finalPath)) return "exists";
    try {
      await rename(tempPath, finalPath);
      return "named";
    } catch (err) {
      if (isNotFound(err)) return "no-dir";
      throw err;
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

/**
 * Directory flushes shared by concurrent puts: a put waits for a flush of its
 * directory that started after its link. If one is running, every put that
 * arrives meanwhile waits for the single flush queued behind it.
 */
class DirectorySyncs {
  readonly #dirs = new Map<
    string,
    { running: Promise<void> | undefined; queued: Promise<void> | undefined }
  >();

  sync(dir: string): Promise<void> {
    let state = this.#dirs.get(dir);
    if (!state) {
      state = { running: undefined, queued: undefined };
      this.#dirs.set(dir, state);
    }
    const current = state.running;
    if (!current) return this.#start(dir, state);
    const s = state;
    s.queued ??= current
      .catch(() => {})
      .then(() => {
        s.queued = undefined;
        return s.running ?? this.#start(dir, s);
      });
    return s.queued;
  }

  #start(dir: string, state: { running: Promise<void> | undefined; queued: Promise<void> | undefined }) {
    const running: Promise<void> = syncDir(dir).finally(() => {
      if (state.running !== running) return;
      state.running = undefined;
      if (!state.queued) this.#dirs.delete(dir);
    });
    state.running = running;
    return running;
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
