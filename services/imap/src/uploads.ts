/**
 * Streamed APPEND literals (RFC 9051 §6.3.12, RFC 7888): each literal of the
 * command being read flows from the reader straight into the blob store while it
 * arrives, so a 50 MB message never sits in the gateway's memory. The command
 * handler (commands/append.ts) awaits the stored blob by literal index.
 *
 * Backpressure: a literal chunk the blob store can't take yet makes the session
 * wait for 'drain' before reading on. A failed upload keeps the stream flowing
 * (its data is discarded) so the reader stays in sync; the command reports it.
 */
import { PassThrough } from "node:stream";
import type { Delivery, StoredBlob } from "@aerogram/delivery";

export interface Upload {
  readonly stream: PassThrough;
  readonly blob: Promise<StoredBlob>;
  failed: boolean;
}

export class Uploads {
  readonly #byIndex = new Map<number, Upload>();

  constructor(private readonly delivery: Pick<Delivery, "storeBlob">) {}

  get(index: number): Upload | undefined {
    return this.#byIndex.get(index);
  }

  start(index: number): void {
    const stream = new PassThrough({ highWaterMark: 256 * 1024 });
    const upload: Upload = { stream, blob: this.delivery.storeBlob(stream), failed: false };
    upload.blob.catch(() => {
      upload.failed = true;
      stream.resume(); // keep the reader flowing; the command reports the failure
    });
    this.#byIndex.set(index, upload);
  }

  /** Feeds one chunk; resolves when the blob store can take more. */
  async write(index: number, data: Buffer): Promise<void> {
    const upload = this.#byIndex.get(index);
    if (upload && !upload.failed && !upload.stream.write(data)) await waitForDrain(upload.stream, upload);
  }

  end(index: number): void {
    this.#byIndex.get(index)?.stream.end();
  }

  /** The command is done with its literals (its handler awaited what it needed). */
  clear(): void {
    this.#byIndex.clear();
  }

  /** The connection closed: abandon every upload in flight. */
  destroyAll(): void {
    for (const upload of this.#byIndex.values()) upload.stream.destroy();
    this.#byIndex.clear();
  }
}

function waitForDrain(stream: PassThrough, upload: { failed: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      stream.off("error", done);
      resolve();
    };
    if (upload.failed || stream.destroyed) return resolve();
    stream.on("drain", done);
    stream.on("close", done);
    stream.on("error", done);
  });
}
