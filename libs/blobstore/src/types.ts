/**
 * A write-once, content-addressed blob store. Keys are the lowercase hex
 * SHA-256 of the content, so the same message delivered to 50 recipients is
 * stored once and a put of existing content is a cheap no-op.
 */
import type { Readable } from "node:stream";

export interface PutResult {
  /** sha256 hex of the content: the blob's key. */
  key: string;
  /** Size in octets. */
  size: number;
  /** False when a blob with this key already existed (nothing was written). */
  created: boolean;
}

export interface BlobStore {
  /** Stores a stream; never holds the whole content in memory. Durable when it resolves. */
  put(content: Readable | AsyncIterable<Uint8Array>): Promise<PutResult>;
  /** Stores a buffer (small messages, tests). Durable when it resolves. */
  putBuffer(content: Uint8Array): Promise<PutResult>;
  /** The whole blob as a stream. Rejects with BlobNotFoundError if absent. */
  get(key: string): Promise<Readable>;
  /**
   * `length` octets from `offset` (a ranged GET on S3). A range running past the
   * end is cut at the end; an offset at or past the end yields an empty stream.
   */
  getRange(key: string, offset: number, length: number): Promise<Readable>;
  /** Convenience: a range (or the whole blob) read into one Buffer. */
  read(key: string, offset?: number, length?: number): Promise<Buffer>;
  /** Size in octets, or undefined if absent. */
  stat(key: string): Promise<{ size: number } | undefined>;
  /** Removes a blob; absent blobs are not an error. Used by the garbage collector only. */
  delete(key: string): Promise<void>;
  /**
   * Every key in lexicographic order, for the garbage collector's audit;
   * `startAfter` resumes an interrupted listing after that key.
   */
  list(opts?: { startAfter?: string }): AsyncIterable<string>;
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`blob ${key} not found`);
    this.name = "BlobNotFoundError";
  }
}

export const BLOB_KEY_RE = /^[0-9a-f]{64}$/;
