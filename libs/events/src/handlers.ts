/**
 * Local handlers per account, reference-counted so a bus holds one upstream
 * subscription per account however many sessions of that account it serves.
 */
import type { EventHandler, MailboxEvent } from "./types.ts";

/** One subscribe() call; a distinct object so the same function may be subscribed twice. */
interface Registration {
  handler: EventHandler;
}

export class HandlerRegistry {
  readonly #byAccount = new Map<number, Set<Registration>>();

  /** Adds a handler; `first` is true when the account had none (time to subscribe upstream). */
  add(account: number, handler: EventHandler): { first: boolean; remove: () => { last: boolean } } {
    let set = this.#byAccount.get(account);
    const first = set === undefined;
    if (!set) {
      set = new Set();
      this.#byAccount.set(account, set);
    }
    const registration: Registration = { handler };
    set.add(registration);
    let removed = false;
    const remove = () => {
      // Idempotent: a second unsubscribe() must not release someone else's reference.
      if (removed) return { last: false };
      removed = true;
      const current = this.#byAccount.get(account);
      if (!current?.delete(registration)) return { last: false };
      if (current.size > 0) return { last: false };
      this.#byAccount.delete(account);
      return { last: true };
    };
    return { first, remove };
  }

  has(account: number): boolean {
    return this.#byAccount.has(account);
  }

  accounts(): number[] {
    return [...this.#byAccount.keys()];
  }

  get size(): number {
    return this.#byAccount.size;
  }

  /**
   * Calls every handler of the event's account. A throwing handler is reported
   * through `onError` and does not keep the others from running.
   */
  dispatch(event: MailboxEvent, onError: (error: unknown) => void): void {
    const set = this.#byAccount.get(event.account);
    if (!set) return;
    // Copy: a handler may unsubscribe (itself or others) while we iterate; one
    // that was removed by an earlier handler is no longer called.
    for (const registration of [...set]) {
      if (!set.has(registration)) continue;
      try {
        registration.handler(event);
      } catch (error) {
        onError(error);
      }
    }
  }

  clear(): void {
    this.#byAccount.clear();
  }
}
