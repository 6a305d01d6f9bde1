/**
 * Group commit of queue rows (as libs/delivery's group-commit.ts does for
 * SMTP-in's mailbox rows): sessions that finish DATA while a commit is
 * running wait for it and then go together, in one INSERT and one commit.
 * One commit is in flight at a time: with two, the bench's statement counts
 * showed most messages going alone (0.7 INSERTs per message; 0.5 with one,
 * at the price of waiting for at most one commit). A lone message never
 * waits (nothing in flight: it goes at once), and each
 * caller resolves only after the statement holding its rows committed, so
 * "250 only when the rows are durable" is unchanged. A failed group is
 * retried one message at a time, so one bad row (its account deleted
 * meanwhile) fails alone.
 */
import type { OutboundEnqueue, Store } from "@aerogram/store";

interface Waiting {
  item: OutboundEnqueue;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class QueueCommitter {
  readonly #queue: Waiting[] = [];
  #inFlight = 0;
  /** Groups committed and messages in them (tests, bench). */
  readonly stats = { groups: 0, messages: 0 };

  constructor(
    private readonly store: Pick<Store, "outbound">,
    private readonly maxGroup = 64,
    private readonly maxInFlight = 1,
  ) {}

  enqueue(item: OutboundEnqueue): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    while (this.#inFlight < this.maxInFlight && this.#queue.length > 0) {
      const group = this.#queue.splice(0, this.maxGroup);
      this.#inFlight++;
      void this.#run(group).finally(() => {
        this.#inFlight--;
        this.#kick();
      });
    }
  }

  async #run(group: Waiting[]): Promise<void> {
    try {
      if (group.length === 1) await this.store.outbound.enqueue(group[0]!.item);
      else await this.store.outbound.enqueueMany(group.map((w) => w.item));
      this.stats.groups++;
      this.stats.messages += group.length;
      for (const w of group) w.resolve();
    } catch (err) {
      if (group.length === 1) return group[0]!.reject(err);
      // One statement is all or none: retry each alone so only the bad one fails.
      await Promise.all(
        group.map((w) =>
          this.store.outbound.enqueue(w.item).then(
            () => w.resolve(),
            (e: unknown) => w.reject(e),
          ),
        ),
      );
    }
  }
}
