/**
 * What this gateway process knows of each mailbox's HIGHESTMODSEQ, so a
 * command in a mailbox that did not change asks Postgres nothing (issue 17).
 *
 * The truth stays Postgres's change log; this only says when asking can be
 * skipped. A session's view at MODSEQ m is current when
 *   - a read of Postgres (the sync's change query, a FETCH's rows, STATUS,
 *     LIST, or a write under the row lock) that STARTED less than
 *     IMAP_HEAD_MAX_STALE_MS ago saw the mailbox at a HIGHESTMODSEQ ≤ m,
 *   - no wake-up since then named a higher MODSEQ (events are published after
 *     the commit; this process's own writes are noted before their tagged OK),
 *   - and the event bus is connected.
 * A lost event therefore delays an update by at most the bound (one real check
 * per mailbox per bound, shared by every session of the process that has it
 * selected); it never makes a session wrong, because the next read after the
 * bound is the truth again and the sync reports everything after the view's
 * MODSEQ. An event whose MODSEQ can't be read (a mailbox rename or delete)
 * marks the mailbox unknown until the next read.
 */
import type { EventBus, MailboxEvent, Subscription } from "@aerogram/events";

interface Head {
  /** Highest MODSEQ known: from reads and wake-ups. */
  modseq: number;
  /** performance.now() when the newest read that saw the head started. */
  checkedAt: number;
  /** performance.now() of the last wake-up without a usable MODSEQ. */
  unknownSince: number;
  /** performance.now() of the last update of any kind (the sweep keeps recent ones). */
  touchedAt: number;
}

/** Past this many entries, entries untouched for SWEEP_AGE_MS (longer than any read) are dropped. */
const SWEEP_AT = 20_000;
const SWEEP_AGE_MS = 60_000;

export class MailboxHeads {
  readonly #heads = new Map<number, Head>();
  readonly #accounts = new Map<number, { refs: number; subscription: Subscription }>();

  constructor(
    private readonly events: EventBus,
    /** How long a read vouches for a mailbox (0: never skip the check). */
    private readonly maxStaleMs: number,
  ) {}

  /** Follows an account's wake-ups while a session has one of its mailboxes selected; returns the release. */
  watch(accountId: number): () => void {
    let entry = this.#accounts.get(accountId);
    if (!entry) {
      const subscription = this.events.subscribe(accountId, (event) => this.#onEvent(event));
      entry = { refs: 0, subscription };
      this.#accounts.set(accountId, entry);
    }
    entry.refs++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const e = this.#accounts.get(accountId);
      if (!e || --e.refs > 0) return;
      e.subscription.unsubscribe();
      this.#accounts.delete(accountId);
    };
  }

  /** A read of Postgres that started at `startedAt` (performance.now()) saw HIGHESTMODSEQ `modseq`. */
  observed(mailboxId: number, modseq: number, startedAt: number): void {
    const head = this.#head(mailboxId);
    if (modseq > head.modseq) head.modseq = modseq;
    if (startedAt > head.checkedAt) head.checkedAt = startedAt;
  }

  /**
   * A change committed at `modseq` (this process's own write, or another's
   * event). Recorded even for a mailbox nothing vouched for yet: a read that
   * started before this commit and ends after it must not vouch for the older head.
   */
  changed(mailboxId: number, modseq: number): void {
    const head = this.#head(mailboxId);
    if (Number.isSafeInteger(modseq) && modseq > 0) {
      if (modseq > head.modseq) head.modseq = modseq;
    } else head.unknownSince = performance.now();
  }

  #head(mailboxId: number): Head {
    const now = performance.now();
    let head = this.#heads.get(mailboxId);
    if (!head) {
      if (this.#heads.size >= SWEEP_AT) this.#sweep(now);
      head = {
        modseq: 0,
        checkedAt: Number.NEGATIVE_INFINITY,
        unknownSince: Number.NEGATIVE_INFINITY,
        touchedAt: now,
      };
      this.#heads.set(mailboxId, head);
    }
    head.touchedAt = now;
    return head;
  }

  /** True when a view of the mailbox at `modseq` needs no read to be current (see above). */
  current(mailboxId: number, modseq: number): boolean {
    if (this.maxStaleMs <= 0 || this.events.state !== "connected") return false;
    const head = this.#heads.get(mailboxId);
    if (!head || head.modseq > modseq || head.unknownSince >= head.checkedAt) return false;
    return performance.now() - head.checkedAt < this.maxStaleMs;
  }

  #onEvent(event: MailboxEvent): void {
    if (event.kind === "mailbox-created" || event.kind === "mailbox-subscribed") return;
    const modseq =
      event.kind === "mailbox-renamed" || event.kind === "mailbox-deleted" ? 0 : Number(event.modseq);
    this.changed(event.mailbox, modseq);
  }

  #sweep(now: number): void {
    const limit = now - Math.max(this.maxStaleMs, SWEEP_AGE_MS);
    for (const [id, head] of this.#heads) if (head.touchedAt < limit) this.#heads.delete(id);
  }
}
