/** Content generators and stream checks shared by the blob store tests. */
import { createHash, randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { Readable } from "node:stream";

export function sha256(content: Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

/** Random content delivered as a Readable in uneven chunks, like a socket would. */
export function chunkedStream(content: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0, step = 1; at < content.length; at += step, step = (step * 7 + 3) % 9000) {
    chunks.push(content.subarray(at, at + step));
  }
  return Readable.from(chunks);
}

/**
 * A large stream generated lazily, so the test itself never holds it; `digest()`
 * gives its SHA-256 once it has been fully consumed.
 */
export function generatedContent(size: number, chunkSize = 64 * 1024) {
  const hash = createHash("sha256");
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let left = size; left > 0; left -= chunkSize) {
      const chunk = randomBytes(Math.min(chunkSize, left));
      hash.update(chunk);
      yield chunk;
    }
  }
  return { stream: chunks(), digest: () => hash.digest("hex") };
}

/** Hashes and counts a stream without keeping it. */
export async function hashStream(stream: Readable): Promise<{ key: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { key: hash.digest("hex"), size };
}

/** A source that delivers some bytes and then fails, like a client dropping mid-DATA. */
export async function* failingSource(error: Error): AsyncGenerator<Uint8Array> {
  yield randomBytes(100_000);
  yield randomBytes(100_000);
  throw error;
}

export async function collectKeys(keys: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of keys) out.push(key);
  return out.sort();
}

/** Entries in a directory (a missing directory counts as empty). */
export async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
}
