/**
 * Group commit for deliveries arriving together (SMTP-in under load): while
 * a group's transaction runs, new deliveries queue; when it ends, everything
 * queued (up to maxGroup) goes out as the next group, one transaction
 * sent as one message, one round trip (Messages.appendGroupAtOnce). A lone
 * delivery is never delayed: with nothing in flight it goes at once. Each
 * caller still resolves only after the commit that holds its rows, so the
 * durability contract (250 only when committed) is unchanged. A group that
 * fails committed nothing; its deliveries are retried one at a time in a
 * transaction of their own (Messages.appendGroup, which names the error), so
 * one bad delivery (a mailbox deleted meanwhile) fails alone. A retry cannot
 * double a delivery: each carries its dedupe key.
 */
import type { GroupedAppend, GroupedAppendResult, Store } from "@aerogram/store";

export interface GroupCommitOptions {
  /** Most deliveries in one transaction. */
  maxGroup: number;
  /** Groups committing at the same time (each on its own connection). */
  maxInFlight: number;
}

export const DEFAULT_GROUP_COMMIT: GroupCommitOptions = { maxGroup: 64, maxInFlight: 2 };

interface Waiting {
  item: GroupedAppend;
  resolve: (result: GroupedAppendResult) => void;
  reject: (error: unknown) => void;
}

export class GroupCommitter {
  readonly #store: Store;
  readonly #options: GroupCommitOptions;
  readonly #queue: Waiting[] = [];
  #inFlight = 0;
  /** Groups committed and deliveries in them, for metrics and tests. */
  readonly stats = { groups: 0, deliveries: 0 };

  constructor(store: Store, options: GroupCommitOptions = DEFAULT_GROUP_COMMIT) {
    this.#store = store;
    this.#options = options;
  }

  commit(item: GroupedAppend): Promise<GroupedAppendResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    while (this.#inFlight < this.#options.maxInFlight && this.#queue.length > 0) {
      const group = this.#queue.splice(0, this.#options.maxGroup);
      this.#inFlight++;
      void this.#run(group).finally(() => {
        this.#inFlight--;
        this.#kick();
      });
    }
  }

  async #run(group: Waiting[]): Promise<void> {
    try {
      const results = await this.#store.messages.appendGroupAtOnce(group.map((w) => w.item));
      this.stats.groups++;
      this.stats.deliveries += group.length;
      for (const [i, w] of group.entries()) w.resolve(results[i]!);
    } catch {
      // Alone, each delivery fails or succeeds on its own, with the error that names why.
      await Promise.all(group.map((w) => this.#runAlone(w)));
    }
  }

  async #runAlone(w: Waiting): Promise<void> {
    try {
      const [result] = await this.#store.messages.appendGroup([w.item]);
      this.stats.groups++;
      this.stats.deliveries++;
      w.resolve(result!);
    } catch (error) {
      w.reject(error);
    }
  }
}
