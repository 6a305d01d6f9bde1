/**
 * Group completion: entries a worker finishes while a DELETE is running wait
 * for it and then go together in one statement (store.outbound.completeMany,
 * fenced by the lease owner per row as complete() is). Nothing waits when
 * nothing is in flight. Each caller learns whether its row was still its own.
 */
import type { Store } from "@aerogram/store";

interface Waiting {
  id: number;
  resolve: (removed: boolean) => void;
  reject: (error: unknown) => void;
}

export class CompleteBatcher {
  readonly #queue: Waiting[] = [];
  #inFlight = false;

  constructor(
    private readonly store: Pick<Store, "outbound">,
    private readonly owner: string,
    private readonly maxGroup = 100,
  ) {}

  complete(id: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ id, resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#inFlight || this.#queue.length === 0) return;
    const group = this.#queue.splice(0, this.maxGroup);
    this.#inFlight = true;
    void this.#run(group).finally(() => {
      this.#inFlight = false;
      this.#kick();
    });
  }

  async #run(group: Waiting[]): Promise<void> {
    try {
      if (group.length === 1) {
        group[0]!.resolve(await this.store.outbound.complete(group[0]!.id, this.owner));
        return;
      }
      const removed = await this.store.outbound.completeMany(
        group.map((w) => w.id),
        this.owner,
      );
      for (const w of group) w.resolve(removed.has(Number(w.id)));
    } catch (err) {
      for (const w of group) w.reject(err);
    }
  }
}
