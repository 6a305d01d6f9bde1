/**
 * The one path a message takes into mailboxes, shared by SMTP-in and IMAP
 * APPEND, so the durability contract lives in one place:
 *
 *   1. the raw message streams into the blob store (content addressed, so 50
 *      recipients share one blob) while the MIME indexer reads the same bytes;
 *   2. one Postgres transaction allocates UIDs/MODSEQs and inserts a row into
 *      every target mailbox (all or none);
 *   3. an event per mailbox wakes the sessions watching it.
 *
 * Line endings: every bare LF is turned into CRLF (libs/mime crlf.ts) before
 * the bytes are hashed, stored and indexed. The blob is then exactly what
 * IMAP (RFC 9051 §2.3.1) and POP3 serve, so RFC822.SIZE, section offsets,
 * partial ranges and line counts need no conversion at read time, and the
 * same message with either line ending is stored once, under one key. (Converting at read
 * time instead would make every size and offset of the index a "virtual"
 * one and every ranged read a scan.) Blobs stored before this keep their
 * bytes and their index, which describes those bytes, so they are served as
 * they always were.
 *
 * Only when this resolves may the caller acknowledge (SMTP 250, IMAP OK). A
 * failure in 1 or 2 leaves nothing visible (at most an unreferenced blob, which
 * is released to the blob reclaimer, or after a crash found by the audit in
 * gc.ts); a failure in 3 loses nothing, because sessions read changes from
 * Postgres and the event is only a wake-up.
 *
 * Blob references (issue 22): a commit that would reference content the
 * reclaimer deleted after storeBlob stored it fails in Postgres
 * (BlobReclaimedError, blob-reclaimer.ts says when); withBlobRef then
 * retries once if the content exists again, else the delivery fails
 * temporarily (SMTP 451, the sender retries). A blob a failed or duplicate
 * delivery leaves unused is released to the reclaimer.
 */
import { PassThrough, type Readable } from "node:stream";
import type { BlobStore } from "@aerogram/blobstore";
import type { EventBus } from "@aerogram/events";
import { CrlfNormalizer, createIndexer, type MessageIndex, toCrlf } from "@aerogram/mime";
import {
  type Appended,
  asBlobReclaimed,
  BlobReclaimedError,
  type DedupeOptions,
  DuplicateDeliveryError,
  type Store,
} from "@aerogram/store";
import { type GroupCommitOptions, GroupCommitter } from "./group-commit.ts";
import { toIndexColumns } from "./index-columns.ts";
import { SearchIndexer } from "./search-index.ts";

function drainedOrClosed(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

export interface DeliveryTarget {
  mailboxId: number;
  /** IMAP flags and keywords for the new message. */
  flags?: readonly string[];
}

export interface StoredBlob {
  key: string;
  size: number;
  index: MessageIndex;
}

export interface DeliveryResult extends StoredBlob {
  appended: Appended[];
}

export interface StoreBlobOptions {
  /**
   * When a tombstone of reclaimed content is cleared (migration 030): "now"
   * (default) after a put that created the object, one Postgres round trip per
   * new blob, for callers that reference the blob in writes of their own;
   * "at-commit" only when a commit through commit/commitOnce meets one
   * (withBlobRef: the object exists again, so the tombstone goes and the
   * commit is retried), which is rare, so a delivery saves that round trip.
   */
  tombstones?: "now" | "at-commit";
}

/** What commitOnce did: delivered now, or found the same delivery already committed. */
export type CommitOnceResult = { duplicate: false; appended: Appended[] } | { duplicate: true };

export class Delivery {
  readonly #grouped: GroupCommitter | undefined;
  readonly #search: SearchIndexer;

  /**
   * `groupCommit`: commitOnce goes through a GroupCommitter (deliveries that
   * arrive together share one transaction; SMTP-in). Safe to retry because
   * commitOnce always carries a dedupe key.
   */
  constructor(
    private readonly deps: { store: Store; blobs: BlobStore; events: EventBus },
    options: {
      groupCommit?: GroupCommitOptions;
      /** Body text bound of the search rows SORT/THREAD write on demand (search-index.ts). */
      searchMaxBodyChars?: number;
    } = {},
  ) {
    this.#grouped = options.groupCommit ? new GroupCommitter(deps.store, options.groupCommit) : undefined;
    this.#search = new SearchIndexer(
      deps,
      options.searchMaxBodyChars !== undefined ? { maxBodyChars: options.searchMaxBodyChars } : {},
    );
  }

  /**
   * The search indexer, for SORT/THREAD indexing what is missing on the spot.
   * Deliveries write no search row: the background indexer (lifecycle
   * service, search-index-worker.ts) does, off the ack path.
   */
  get searchIndexer(): SearchIndexer {
    return this.#search;
  }

  /** Group-commit counters (undefined without groupCommit). */
  get groupCommitStats(): Readonly<{ groups: number; deliveries: number }> | undefined {
    return this.#grouped?.stats;
  }

  /**
   * Stores the raw message in the blob store and indexes it in the same pass
   * (the bytes are read once, never held whole in memory).
   */
  async storeBlob(
    source: Readable | AsyncIterable<Uint8Array> | Uint8Array,
    options: StoreBlobOptions = {},
  ): Promise<StoredBlob> {
    const indexer = createIndexer();
    const eager = options.tombstones !== "at-commit";
    if (source instanceof Uint8Array) {
      const message = toCrlf(source);
      let put = await this.deps.blobs.putBuffer(message);
      // Re-created content the reclaimer had deleted: the bytes are here, store them again.
      while (eager && put.created && !(await this.#reclaimedContentRestored(put.key)))
        put = await this.deps.blobs.putBuffer(message);
      indexer.write(message);
      return { key: put.key, size: put.size, index: indexer.end() };
    }
    const crlf = new CrlfNormalizer();
    // The pump hands every chunk to the indexer and then to the blob store's
    // stream. (A "data" listener on the tee would switch it to flowing mode and
    // drop whatever flowed before the blob store started reading.)
    const tee = new PassThrough({ highWaterMark: 256 * 1024 });
    // The source's failure (a client gone mid-message) is reported by the pump;
    // the blob store sees a destroyed stream and its own error is secondary.
    tee.on("error", () => {});
    let sourceFailed: (err: Error) => void = () => {};
    const sourceFailure = new Promise<never>((_, reject) => {
      sourceFailed = reject;
    });
    const pump = (async () => {
      try {
        for await (const raw of source) {
          const chunk = crlf.push(raw);
          indexer.write(chunk);
          if (!tee.write(chunk)) await drainedOrClosed(tee);
          if (tee.destroyed) return;
        }
        tee.end();
      } catch (err) {
        tee.destroy(err as Error);
        sourceFailed(err as Error);
      }
    })();
    const upload = this.deps.blobs.put(tee);
    upload.catch(() => {});
    let put: Awaited<typeof upload>;
    try {
      put = await Promise.race([upload, sourceFailure]);
    } catch (err) {
      tee.destroy();
      await pump;
      throw err;
    }
    await pump;
    if (eager && put.created && !(await this.#reclaimedContentRestored(put.key)))
      throw new BlobReclaimedError(put.key); // a temporary failure: the client sends it again
    return { key: put.key, size: put.size, index: indexer.end() };
  }

  /**
   * After a put that created its object: if the reclaimer had deleted this
   * content before (a tombstone, migration 030), the tombstone goes, so rows
   * may take the blob again; true when the object exists afterwards (false:
   * a reclaimer was deleting it at the same moment; store it again). One
   * primary-key DELETE for new content, a HEAD only when there was a tombstone.
   */
  async #reclaimedContentRestored(key: string): Promise<boolean> {
    // A Delivery used only to store and index (tests of the pipeline) has no store.
    if (!this.deps.store) return true;
    if (!(await this.deps.store.blobReclaim.clearTombstone(key))) return true;
    return (await this.deps.blobs.stat(key)) !== undefined;
  }

  /**
   * Adds an already stored blob to mailboxes in one transaction, then
   * publishes one event per mailbox.
   */
  async commit(
    blob: StoredBlob,
    targets: readonly DeliveryTarget[],
    internalDate = new Date(),
  ): Promise<Appended[]> {
    return this.append(blob, targets, internalDate, undefined);
  }

  /**
   * commit, exactly once per dedupe key within its window: the key is recorded
   * in the same transaction as the message rows, so a sender retrying after a
   * lost 250 gets `duplicate: true` and no second copy (and no event).
   */
  async commitOnce(
    blob: StoredBlob,
    targets: readonly DeliveryTarget[],
    dedupe: DedupeOptions,
    internalDate = new Date(),
  ): Promise<CommitOnceResult> {
    if (this.#grouped) {
      const columns = toIndexColumns(blob.index);
      const grouped = this.#grouped;
      const result = await this.#withBlobRef(blob, () =>
        grouped.commit({
          targets: targets.map((t) => ({
            mailboxId: t.mailboxId,
            messages: [
              { blobKey: blob.key, size: blob.size, internalDate, flags: t.flags ?? [], index: columns },
            ],
          })),
          dedupe,
        }),
      );
      if (!result.duplicate) this.#publish(result.appended);
      else this.#release(blob);
      return result;
    }
    try {
      return { duplicate: false, appended: await this.append(blob, targets, internalDate, dedupe) };
    } catch (err) {
      if (err instanceof DuplicateDeliveryError) {
        this.#release(blob);
        return { duplicate: true };
      }
      throw err;
    }
  }

  /**
   * Runs a commit of rows referencing `blob`. When the reclaimer deleted the
   * content after it was stored (the commit fails with BlobReclaimedError),
   * the commit is retried once if the content exists again (another writer
   * stored it after the deletion); otherwise the error stands and the caller
   * answers a temporary failure. Any other failure releases the blob (the
   * reclaimer re-checks references, so releasing shared content is safe).
   */
  async #withBlobRef<T>(blob: StoredBlob, commit: () => Promise<T>): Promise<T> {
    try {
      return await commit();
    } catch (err) {
      if (!asBlobReclaimed(err)) {
        if (!(err instanceof DuplicateDeliveryError)) this.#release(blob);
        throw err;
      }
      if (!(await this.deps.blobs.stat(blob.key))) throw asBlobReclaimed(err);
      await this.deps.store.blobReclaim.clearTombstone(blob.key);
      return commit();
    }
  }

  /** Hands a blob no row took to the reclaimer (best effort: the audit finds what this misses). */
  #release(blob: StoredBlob): void {
    this.deps.store.blobReclaim.release([{ key: blob.key, size: blob.size }]).catch(() => {});
  }

  /**
   * For callers that stored a blob (storeBlob) and then decided not to commit
   * it (every recipient refused, the client went away): the reclaimer deletes
   * it after the grace period unless something references it by then.
   */
  release(blob: Pick<StoredBlob, "key" | "size">): Promise<void> {
    return this.deps.store.blobReclaim.release([{ key: blob.key, size: blob.size }]);
  }

  private async append(
    blob: StoredBlob,
    targets: readonly DeliveryTarget[],
    internalDate: Date,
    dedupe: DedupeOptions | undefined,
  ): Promise<Appended[]> {
    const columns = toIndexColumns(blob.index);
    const appended = await this.#withBlobRef(blob, () =>
      this.deps.store.messages.append(
        targets.map((t) => ({
          mailboxId: t.mailboxId,
          messages: [
            { blobKey: blob.key, size: blob.size, internalDate, flags: t.flags ?? [], index: columns },
          ],
        })),
        dedupe ? { dedupe } : {},
      ),
    );
    this.#publish(appended);
    return appended;
  }

  /** One wake-up per mailbox that got messages. */
  #publish(appended: readonly Appended[]): void {
    for (const a of appended) {
      this.deps.events.publish({
        account: a.accountId,
        mailbox: a.mailboxId,
        kind: "exists",
        modseq: String(a.modseq),
        uids: a.uids,
      });
    }
  }

  /** storeBlob then commit: the whole delivery of one message. */
  async deliver(
    source: Readable | AsyncIterable<Uint8Array> | Uint8Array,
    targets: readonly DeliveryTarget[],
    internalDate?: Date,
  ): Promise<DeliveryResult> {
    const blob = await this.storeBlob(source);
    const appended = await this.commit(blob, targets, internalDate);
    return { ...blob, appended };
  }
}
