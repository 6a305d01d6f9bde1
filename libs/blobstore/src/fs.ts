/**
 * Blob store on a local (or network) filesystem: the embedded default, and fine
 * for a single node. Blobs live at `dir/ab/cd/<sha256>` so no directory grows
 * past 65536 entries; writes go through `dir/tmp/` and a link into place.
 *
 * Durability of a new blob (POSIX; fsync(2)). A put resolves only once both
 * the file's data (fdatasync of the file) and its name (fsync of the
 * directory holding it, and of new fan-out directories' parents) are on
 * disk. Those are two flushes, and they used to run one after the other
 * (data, then link, then directory), so every put waited for two journal
 * commits. Now the file is written, linked to its key, and then both
 * flushes are issued at the same time: the filesystem commits them together
 * (ext4/XFS: one journal commit for both, shared with every other put
 * flushing at that moment), so a put waits for about one commit instead of
 * two, and concurrent puts share it (group commit by the journal; the
 * directory flushes of puts into one directory are also shared in user space,
 * DirectorySyncs).
 *
 * What the order used to protect, and what protects it now: naming a file
 * before its data is flushed means a power cut between the two can leave a
 * torn or empty file under a real key. No row can reference it (its put never
 * resolved), and the only thing that trusts a name without a row is a later
 * put of the same content, which finds the name taken (EEXIST). That put does
 * not trust it: it reads the existing file back, compares its SHA-256 with
 * the key, and flushes it (data and directories) before resolving, since the
 * name may equally belong to a put still in flight; a torn file is replaced
 * (our flushed copy renamed over it). So a resolved put still means the
 * intact content is durable under its key, and a crash can still leave only
 * unreferenced leftovers (stray temp files, torn unreferenced blobs, which
 * the audit collects). A put whose flush fails removes its own link before
 * failing: after a failed fsync Linux may call the next one a success with
 * the data lost, so no later put may find that name and trust a re-flush.
 * The price moves to re-puts of stored content: a read
 * and a flush, where there used to be none; content-addressed mail re-puts
 * rarely (a retry of the same bytes).
 *
 * link instead of "exists? then rename": EEXIST answers "already stored"
 * atomically without a lookup that fails (and builds an error) for every new
 * blob, and never replaces a stored blob behind another put's back.
 * Filesystems without hard links fall back to rename.
 *
 * The durable mark (issue 17). Once a put's data and name flushes have both
 * succeeded, it clears the file's owner-write bit (fchmod 0640 → 0440): a
 * blob file without that bit was flushed, name and data, by some put before.
 * A file is created with the bit (checked once per store: a umask that strips
 * it, or a filesystem that ignores chmod, turns the mark off), and nothing
 * sets it back, so the mark cannot be seen on a torn file: the chmod is
 * issued after the fdatasync and the directory fsync returned, and whatever
 * a crash keeps of it, the data and the name it vouches for were on disk
 * before it. A re-put of marked content is then one failed O_EXCL open and
 * one stat (size must match too); an unmarked file under the key (a torn
 * leftover, a put still in flight in another process, or a blob from before
 * the mark) takes the careful path above, which marks it once verified.
 *
 * putBuffer knows its key before writing, so it writes the blob under its
 * final name directly (open O_EXCL: EEXIST is "already stored", the same
 * atomic answer the link gave) instead of a temp file, a link and an unlink;
 * the file is unmarked while it is written and flushed, so a concurrent put
 * of the same content in another process cannot trust it, and one in this
 * process waits for it (#inFlight). A failure removes the file if it is
 * still ours. New blob: open, write, the two flushes, fchmod, close (was:
 * open, write, link, the flushes, close, unlink); stored blob: open, stat
 * (was: a temp file written, the existing one read back and hashed, five
 * flushes, three closes and an unlink).
 */

import { createHash } from "node:crypto";
import { createReadStream, constants as fsConstants } from "node:fs";
import { access, type FileHandle, link, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { assertBlobKey, sha256Hex } from "./keys.ts";
import { assertRange, emptyStream } from "./reading.ts";
import {
  type OpenSpool,
  removeQuietly,
  spoolBufferToOpenFile,
  spoolPath,
  spoolToOpenFile,
  writeFully,
} from "./spool.ts";
import { BLOB_KEY_RE, BlobNotFoundError, type BlobStore, type PutResult } from "./types.ts";

export interface FsBlobStoreOptions {
  /** Root directory; created on first use. */
  dir: string;
}

const FAN_OUT_RE = /^[0-9a-f]{2}$/;
/** The durable mark: the owner-write bit cleared (blob files are created 0640). */
const OWNER_WRITE = 0o200;
const DURABLE_MODE = 0o440;
/** How many recently seen marked keys FsBlobStore remembers (64-character strings: ~1 MB). */
const RECENT_KEYS = 10_000;

export class FsBlobStore implements BlobStore {
  readonly dir: string;
  /** Where puts are spooled before being renamed into place; same filesystem as `dir`, so rename is atomic. */
  readonly tmpDir: string;
  #tmpDirReady: Promise<unknown> | undefined;
  /** The root and the first fan-out level (257 directories at most) keep an open handle for their flushes. */
  readonly #dirSyncs = new DirectorySyncs((dir) => dir === this.dir || dirname(dir) === this.dir);
  /** Fan-out directories this process has used (at most 65536): they exist and their entries were flushed. */
  readonly #knownDirs = new Set<string>();
  /** Fan-out directories this process just created, until their parents' flushes end. */
  readonly #parentSyncs = new Map<string, Promise<unknown>>();
  /** False once link() said this filesystem has no hard links: rename after an existence check. */
  #hardLinks = true;
  /** Whether the durable mark works here (see the top of this file); known once tmp/ is ready. */
  #marks = false;
  /**
   * Keys this process saw marked (stored or found), oldest first, at most
   * RECENT_KEYS: a re-put of one asks stat first, which succeeds, where the
   * O_EXCL open would fail and build an error (the costlier call). Only a
   * hint: the stat still decides, so a blob deleted since costs one failed stat.
   */
  readonly #recent = new Set<string>();
  /** putBuffer's direct writes in progress, by key: a put of the same content waits for it. */
  readonly #inFlight = new Map<string, Promise<PutResult>>();

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
    const spooled = await spoolToOpenFile(content, spoolPath(await this.#ensureTmpDir()));
    // A direct write of the same content in progress here: name ours once it is done.
    const earlier = this.#inFlight.get(spooled.key);
    if (earlier) await earlier.catch(() => {});
    return this.#commit(spooled);
  }

  async putBuffer(content: Uint8Array): Promise<PutResult> {
    // The key first, then the file under its final name (see the top of this
    // file): stored content is found by the O_EXCL open, no temp file.
    const key = sha256Hex(content);
    const earlier = this.#inFlight.get(key);
    if (earlier) await earlier.catch(() => {});
    const put = this.#putDirect(key, content);
    this.#inFlight.set(key, put);
    const forget = () => {
      if (this.#inFlight.get(key) === put) this.#inFlight.delete(key);
    };
    put.then(forget, forget);
    return put;
  }

  async #putDirect(key: string, content: Uint8Array): Promise<PutResult> {
    await this.#ensureTmpDir(); // also learns whether the mark works
    const size = content.byteLength;
    const finalPath = this.pathOf(key);
    const fanOutDir = dirname(finalPath);
    if (this.#recent.has(key)) {
      if (await this.#marked(finalPath, size)) return { key, size, created: false };
      this.#recent.delete(key);
    }
    let firstUse = !this.#knownDirs.has(fanOutDir);
    if (firstUse) {
      await mkdir(fanOutDir, { recursive: true });
      this.#knownDirs.add(fanOutDir);
    }
    let file: FileHandle | undefined;
    for (let attempt = 1; !file; attempt++) {
      try {
        file = await open(finalPath, "wx", 0o640);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") {
          if (await this.#marked(finalPath, size)) {
            this.#remember(key);
            return { key, size, created: false };
          }
          // Not known durable: the careful path, through a temp file.
          const path = spoolPath(this.tmpDir);
          return this.#commit({ path, key, size, file: await spoolBufferToOpenFile(content, path) });
        }
        // The fan-out directory removed behind our back (nothing here removes them).
        if (code !== "ENOENT" || attempt >= 2) throw err;
        await mkdir(fanOutDir, { recursive: true });
        firstUse = true;
      }
    }
    try {
      try {
        await writeFully(file, content);
        // Both flushes at once: the journal commits them together.
        await settleAll([file.datasync(), this.#syncNames(fanOutDir, firstUse)]);
      } catch (err) {
        // Never leave an unflushed (or, after a failed fsync, untrustworthy) file under the key.
        await this.#unlinkIfSame(finalPath, file);
        throw err;
      }
      if (await this.#mark(file)) this.#remember(key);
      return { key, size, created: true };
    } finally {
      await file.close().catch(() => {});
    }
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
    // Only the handles of the top directories are held between calls.
    await this.#dirSyncs.close();
  }

  /**
   * Gives a written (unflushed) temp file its key's name, then flushes the data
   * and the name together; or, when that key is already taken, makes sure the
   * existing file is intact and durable (see the top of this file).
   */
  async #commit(spooled: OpenSpool): Promise<PutResult> {
    const { key, size, file } = spooled;
    const finalPath = this.pathOf(key);
    const fanOutDir = dirname(finalPath);
    try {
      for (let attempt = 1; ; attempt++) {
        // A fan-out directory this process has not used yet is made sure of
        // first (created if new: one mkdir instead of a link failing, building
        // an error, then the mkdir and a second link), and its parents are
        // flushed with the name: whoever created it, this process has not seen
        // its entry flushed.
        let firstUse = !this.#knownDirs.has(fanOutDir);
        if (firstUse) {
          await mkdir(fanOutDir, { recursive: true });
          this.#knownDirs.add(fanOutDir);
        }
        let named = await this.#name(spooled.path, finalPath);
        if (named === "no-dir") {
          // Removed behind our back (nothing here removes fan-out directories).
          await mkdir(fanOutDir, { recursive: true });
          firstUse = true;
          named = await this.#name(spooled.path, finalPath);
        }
        if (named === "named") {
          // Both flushes at once: the journal commits them together.
          try {
            await settleAll([file.datasync(), this.#syncNames(fanOutDir, firstUse)]);
          } catch (err) {
            // After a failed flush Linux may report the next one as a success
            // although the data never reached the disk, so a later put must not
            // find this name and flush it "again": it goes (if still ours).
            await this.#unlinkIfSame(finalPath, file);
            throw err;
          }
          await this.#mark(file);
          return { key, size, created: true };
        }
        if (named === "exists") {
          if (await this.#marked(finalPath, size)) return { key, size, created: false };
          const existing = await this.#settleExisting(key, finalPath, fanOutDir);
          if (existing === "durable") return { key, size, created: false };
          if (existing === "torn") {
            // A leftover of a put cut short by a crash: ours replaces it, data first.
            await file.datasync();
            await rename(spooled.path, finalPath);
            await this.#syncNames(fanOutDir, true);
            await this.#mark(file);
            return { key, size, created: true };
          }
        }
        // The name went away between two steps (a fan-out directory or the blob
        // removed meanwhile): name it again, a few times at most.
        if (attempt >= 3) throw new Error(`blob ${key}: could not name it in ${fanOutDir}`);
      }
    } finally {
      // The temp name goes in every case (after a link it is a second name of the blob).
      await file.close().catch(() => {});
      await removeQuietly(spooled.path);
    }
  }

  /**
   * Flushes the name of a blob just linked into `fanOutDir`: that directory,
   * and with `parents` (its first use by this process) the directories
   * holding its entry and its parent's. A put into a directory whose first
   * use is a moment ago also waits for those parent flushes.
   */
  #syncNames(fanOutDir: string, parents: boolean): Promise<unknown> {
    const own = this.#dirSyncs.sync(fanOutDir);
    if (!parents) {
      const parents = this.#parentSyncs.get(fanOutDir);
      return parents ? settleAll([own, parents]) : own;
    }
    const flushed = settleAll([this.#dirSyncs.sync(dirname(fanOutDir)), this.#dirSyncs.sync(this.dir)]);
    this.#parentSyncs.set(fanOutDir, flushed);
    const forget = () => {
      if (this.#parentSyncs.get(fanOutDir) === flushed) this.#parentSyncs.delete(fanOutDir);
    };
    flushed.then(forget, () => {
      forget();
      this.#knownDirs.delete(fanOutDir); // not known flushed: the next put flushes the parents again
    });
    return settleAll([own, flushed]);
  }

  /** Removes `path` if it is still the file behind `file` (the put's own link). */
  async #unlinkIfSame(path: string, file: FileHandle): Promise<void> {
    try {
      const [ours, named] = await Promise.all([file.stat(), stat(path)]);
      if (ours.ino === named.ino && ours.dev === named.dev) await unlink(path);
    } catch {
      // Gone already, or the store is failing: nothing more to do here.
    }
  }

  /**
   * The key is taken. The file under it may be another put's, not flushed
   * yet, or a torn leftover of a put a crash cut short: read it back, compare
   * its hash, and flush it and its directories before trusting it.
   */
  async #settleExisting(
    key: string,
    finalPath: string,
    fanOutDir: string,
  ): Promise<"durable" | "torn" | "gone"> {
    let handle: FileHandle;
    try {
      handle = await open(finalPath, "r");
    } catch (err) {
      if (isNotFound(err)) return "gone";
      throw err;
    }
    try {
      const hash = createHash("sha256");
      const chunk = Buffer.allocUnsafe(64 * 1024);
      for (let position = 0; ; ) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
        if (bytesRead === 0) break;
        hash.update(chunk.subarray(0, bytesRead));
        position += bytesRead;
      }
      if (hash.digest("hex") !== key) return "torn";
      await settleAll([handle.datasync(), this.#syncNames(fanOutDir, true)]);
      await this.#mark(handle);
      return "durable";
    } finally {
      await handle.close();
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
    this.#tmpDirReady ??= mkdir(this.tmpDir, { recursive: true })
      .then(() => this.#probeMarks())
      .catch((err: unknown) => {
        this.#tmpDirReady = undefined; // let a later call retry, e.g. once a volume is mounted
        throw err;
      });
    return this.#tmpDirReady.then(() => this.tmpDir);
  }

  /**
   * Whether the durable mark can be trusted here: a new file must carry the
   * owner-write bit (the umask may strip it) and fchmod must clear it (some
   * filesystems ignore modes). Once per store, in tmp/.
   */
  async #probeMarks(): Promise<void> {
    const path = spoolPath(this.tmpDir);
    const probe = await open(path, "wx", 0o640);
    try {
      const created = (await probe.stat()).mode;
      await probe.chmod(DURABLE_MODE);
      const marked = (await probe.stat()).mode;
      this.#marks = (created & OWNER_WRITE) !== 0 && (marked & OWNER_WRITE) === 0;
    } catch {
      this.#marks = false;
    } finally {
      await probe.close().catch(() => {});
      await removeQuietly(path);
    }
  }

  /** Marks a blob file whose data and name flushes have returned (best effort: unmarked only costs a later re-put a check). */
  async #mark(file: FileHandle): Promise<boolean> {
    if (!this.#marks) return false;
    return file.chmod(DURABLE_MODE).then(
      () => true,
      () => false,
    );
  }

  #remember(key: string): void {
    this.#recent.delete(key);
    this.#recent.add(key);
    if (this.#recent.size > RECENT_KEYS) this.#recent.delete(this.#recent.values().next().value as string);
  }

  /** True when the file under `path` carries the durable mark and has the expected size. */
  async #marked(path: string, size: number): Promise<boolean> {
    if (!this.#marks) return false;
    try {
      const st = await stat(path);
      return st.isFile() && (st.mode & OWNER_WRITE) === 0 && st.size === size;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
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

/**
 * Waits for every promise (none is left running behind an early failure: a
 * file is not closed under its own flush), then rejects with the first failure.
 */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === "rejected") throw r.reason;
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
 * arrives meanwhile waits for the single flush queued behind it. Directories
 * flushed often (`keepOpen`: the root and the first fan-out level) keep their
 * handle, so a flush is one call instead of open, fsync and close.
 */
class DirectorySyncs {
  readonly #dirs = new Map<
    string,
    { running: Promise<void> | undefined; queued: Promise<void> | undefined }
  >();
  readonly #handles = new Map<string, Promise<FileHandle>>();

  constructor(private readonly keepOpen: (dir: string) => boolean) {}

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

  async close(): Promise<void> {
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.all(handles.map((h) => h.then((handle) => handle.close()).catch(() => {})));
  }

  #start(dir: string, state: { running: Promise<void> | undefined; queued: Promise<void> | undefined }) {
    const running: Promise<void> = this.#flush(dir).finally(() => {
      if (state.running !== running) return;
      state.running = undefined;
      if (!state.queued) this.#dirs.delete(dir);
    });
    state.running = running;
    return running;
  }

  async #flush(dir: string): Promise<void> {
    if (!this.keepOpen(dir)) return syncDir(dir);
    let handle = this.#handles.get(dir);
    if (!handle) {
      handle = open(dir, "r");
      this.#handles.set(dir, handle);
    }
    try {
      await (await handle).sync();
    } catch (err) {
      // Opened afresh next time (after an error, or once a volume is back).
      if (this.#handles.get(dir) === handle) this.#handles.delete(dir);
      void handle.then((h) => h.close()).catch(() => {});
      throw err;
    }
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
