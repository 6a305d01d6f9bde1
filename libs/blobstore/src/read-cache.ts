/**
 * A bounded in-memory cache of small blob ranges in front of any BlobStore.
 *
 * Blobs are content-addressed and never change under their key, so a cached
 * range can never be stale: no invalidation, only eviction (least recently used,
 * by bytes). Only read() of ranges up to MAX_CACHED_RANGE is cached — what FETCH
 * asks of small messages, headers and parts over and over (a client re-reading
 * its mailbox, several devices of one user) and what costs an open/read/close on
 * the filesystem or a GET on S3. Streams (getRange/get: big literals) pass through.
 * A hit returns the cached Buffer itself: callers treat read()'s result as read-only.
 */
import type { Readable } from "node:stream";
import type { BlobStore, PutResult } from "./types.ts";

/** Larger ranges are streamed or read once; caching them would evict many small ones. */
const MAX_CACHED_RANGE = 256 * 1024;

export class BlobReadCache implements BlobStore {
  readonly #entries = new Map<string, Buffer>();
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly store: BlobStore,
    private readonly maxBytes: number,
  ) {}

  async read(key: string, offset = 0, length = Number.POSITIVE_INFINITY): Promise<Buffer> {
    if (!Number.isFinite(length) || length > MAX_CACHED_RANGE) return this.store.read(key, offset, length);
    const id = `${key}:${offset}:${length}`;
    const hit = this.#entries.get(id);
    if (hit) {
      this.hits++;
      // Re-insert: Map order is the recency order.
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      return hit;
    }
    this.misses++;
    const data = await this.store.read(key, offset, length);
    this.#remember(id, data);
    return data;
  }

  #remember(id: string, data: Buffer): void {
    if (data.length > this.maxBytes || this.#entries.has(id)) return;
    // A subarray of a larger buffer (a pooled slab) would pin it: keep a copy that owns its bytes.
    const own = data.byteOffset === 0 && data.buffer.byteLength === data.length ? data : Buffer.from(data);
    this.#entries.set(id, own);
    this.#bytes += own.length;
    for (const [oldest, buf] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= buf.length;
    }
  }

  get cachedBytes(): number {
    return this.#bytes;
  }

  put(content: Readable | AsyncIterable<Uint8Array>): Promise<PutResult> {
    return this.store.put(content);
  }
  putBuffer(content: Uint8Array): Promise<PutResult> {
    return this.store.putBuffer(content);
  }
  get(key: string): Promise<Readable> {
    return this.store.get(key);
  }
  getRange(key: string, offset: number, length: number): Promise<Readable> {
    return this.store.getRange(key, offset, length);
  }
  stat(key: string): Promise<{ size: number } | undefined> {
    return this.store.stat(key);
  }
  async delete(key: string): Promise<void> {
    // Deleted content may be stored again later under the same key (same bytes), so
    // cached ranges stay correct; they are dropped anyway to give the memory back.
    for (const id of [...this.#entries.keys()]) {
      if (id.startsWith(`${key}:`)) {
        this.#bytes -= this.#entries.get(id)!.length;
        this.#entries.delete(id);
      }
    }
    await this.store.delete(key);
  }
  list(opts?: { startAfter?: string }): AsyncIterable<string> {
    return this.store.list(opts);
  }
  ping(): Promise<void> {
    return this.store.ping();
  }
  close(): Promise<void> {
    this.#entries.clear();
    this.#bytes = 0;
    return this.store.close();
  }
}

/** The store with a read cache of `maxBytes` in front (none when 0). */
export function withReadCache(store: BlobStore, maxBytes: number): BlobStore {
  return maxBytes > 0 ? new BlobReadCache(store, maxBytes) : store;
}
