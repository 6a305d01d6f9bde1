/**
 * Messages into one mailbox in batches (import and migrate): a batch's blobs
 * are stored in parallel (the blob store's writes are the slow part) and its
 * rows committed in ONE transaction in source order, so UIDs follow the
 * source and a batch is all-or-nothing. Content the mailbox already holds
 * (the same stored bytes: same Message-ID and same hash) is skipped, within
 * the batch too. A batch is at most `maxMessages` messages and about
 * `maxBytes` octets, so memory stays bounded whatever the source.
 */
import { createHash } from "node:crypto";
import { Delivery, type StoredBlob, toIndexColumns } from "@aerogram/delivery";
import { toCrlf } from "@aerogram/mime";
import type { TransferDeps } from "./transfer.ts";

export interface BatchItem<T> {
  message: Buffer;
  flags: string[];
  internalDate: Date;
  /** The caller's handle (a source UID), given back with the outcome. */
  tag: T;
}

export type BatchOutcome<T> = { tag: T; uid: number; bytes: number } | { tag: T; duplicate: true };

export class BatchImporter<T> {
  readonly #delivery: Delivery;
  #batch: (BatchItem<T> & { bytes: Buffer; key: string })[] = [];
  #bytes = 0;

  constructor(
    private readonly deps: TransferDeps,
    private readonly mailboxId: number,
    private readonly onOutcome: (o: BatchOutcome<T>) => void | Promise<void>,
    private readonly limits = { maxMessages: 32, maxBytes: 8 * 1024 * 1024 },
  ) {
    this.#delivery = new Delivery(deps);
  }

  async add(item: BatchItem<T>): Promise<void> {
    const bytes = toCrlf(item.message);
    const key = createHash("sha256").update(bytes).digest("hex");
    this.#batch.push({ ...item, bytes, key });
    this.#bytes += bytes.length;
    if (this.#batch.length >= this.limits.maxMessages || this.#bytes >= this.limits.maxBytes)
      await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    this.#bytes = 0;
    if (batch.length === 0) return;
    const present = await this.deps.store.transfers.presentIn(
      this.mailboxId,
      batch.map((b) => b.key),
    );
    const seen = new Set(present);
    const todo: typeof batch = [];
    const duplicates: typeof batch = [];
    for (const b of batch) {
      if (seen.has(b.key)) duplicates.push(b);
      else {
        seen.add(b.key);
        todo.push(b);
      }
    }
    for (const d of duplicates) await this.onOutcome({ tag: d.tag, duplicate: true });
    if (todo.length === 0) return;
    const stored = await Promise.all(todo.map((t) => this.#delivery.storeBlob(t.bytes)));
    let uids: number[];
    try {
      const [appended] = await this.deps.store.messages.append([
        {
          mailboxId: this.mailboxId,
          messages: todo.map((t, i) => ({
            blobKey: stored[i]!.key,
            size: stored[i]!.size,
            internalDate: t.internalDate,
            flags: t.flags,
            index: toIndexColumns(stored[i]!.index),
          })),
        },
      ]);
      uids = appended?.uids ?? [];
      if (appended)
        this.deps.events.publish({
          account: appended.accountId,
          mailbox: appended.mailboxId,
          kind: "exists",
          modseq: String(appended.modseq),
          uids: appended.uids,
        });
    } catch (err) {
      if (todo.length <= 1) throw err;
      // One message spoiled the batch (its content reclaimed meanwhile, …): one at a time,
      // through Delivery's own retry, still in order.
      uids = [];
      for (const [i, t] of todo.entries()) uids.push(await this.#commitOne(stored[i]!, t));
    }
    for (const [i, t] of todo.entries())
      await this.onOutcome({ tag: t.tag, uid: uids[i]!, bytes: t.bytes.length });
  }

  async #commitOne(blob: StoredBlob, t: BatchItem<T>): Promise<number> {
    const [a] = await this.#delivery.commit(
      blob,
      [{ mailboxId: this.mailboxId, flags: t.flags }],
      t.internalDate,
    );
    return a!.uids[0]!;
  }
}
