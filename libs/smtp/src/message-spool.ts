/**
 * Receives the DATA stream (already dot-unstuffed by smtp-server) once, and
 * while it flows: hashes it (the dedupe key's body part), measures its longest
 * line (RFC 5321 §4.5.3.1.6: 1000 octets with CRLF) and keeps it for the
 * two readers that follow — the authentication checks and the blob store.
 * Up to `memoryBytes` stay in memory; a larger message spills to a temporary
 * file, so no message is ever held whole in memory.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";

export interface SpoolOptions {
  memoryBytes: number;
  /** Directory for spill files (default: the OS temp dir). */
  dir?: string;
}

export interface SpooledMessage {
  size: number;
  /** sha256 hex of the message as received. */
  sha256: string;
  /** Octets of the longest line including its line ending. */
  longestLine: number;
  /** A new reader over the whole message. */
  open(): Readable;
  /** The message's chunks when it is held in memory (not spilled to a file), else undefined. */
  inMemory(): readonly Buffer[] | undefined;
  /** Removes the spill file (if any). Readers already opened keep working. */
  dispose(): Promise<void>;
}

export async function spoolMessage(
  source: AsyncIterable<Buffer>,
  opts: SpoolOptions,
): Promise<SpooledMessage> {
  const hash = createHash("sha256");
  const memory: Buffer[] = [];
  let inMemory = 0;
  let size = 0;
  let line = 0;
  let longestLine = 0;
  let file: { dir: string; path: string; handle: FileHandle } | undefined;
  const dispose = async () => {
    if (!file) return;
    await file.handle.close().catch(() => {});
    await rm(file.dir, { recursive: true, force: true });
  };
  try {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
      let pos = 0;
      for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, pos)) {
        line += nl + 1 - pos;
        if (line > longestLine) longestLine = line;
        line = 0;
        pos = nl + 1;
      }
      line += chunk.length - pos;
      if (line > longestLine) longestLine = line;
      if (!file && inMemory + chunk.length <= opts.memoryBytes) {
        memory.push(chunk);
        inMemory += chunk.length;
        continue;
      }
      if (!file) {
        const dir = await mkdtemp(join(opts.dir ?? tmpdir(), "aerogram-smtp-"));
        const path = join(dir, "message");
        file = { dir, path, handle: await open(path, "w", 0o600) };
        for (const m of memory) await file.handle.write(m);
        memory.length = 0;
      }
      await file.handle.write(chunk);
    }
    if (file) await file.handle.close();
  } catch (err) {
    await dispose();
    throw err;
  }
  const spilled = file;
  return {
    size,
    sha256: hash.digest("hex"),
    longestLine,
    open: () => (spilled ? createReadStream(spilled.path) : Readable.from(memory, { objectMode: false })),
    inMemory: () => (spilled ? undefined : memory),
    dispose,
  };
}
