/**
 * How an update reaches a client (issue 7, issue 17): the one place that turns
 * other sessions' changes into untagged responses outside a command.
 *
 *   another session, SMTP-in or another replica commits a change
 *     → publishes a wake-up on the bus for the account (publish.ts)
 *     → this session's subscription (one per selected mailbox) hears it
 *     → while IDLE: pushUpdates() syncs (mailbox-sync.ts reads the truth from
 *       Postgres) and writes EXISTS/EXPUNGE/FETCH at once;
 *       between commands nothing is pushed: the sync after the next command
 *       reports it (session.ts #dispatch).
 *   The server's poll tick (server.ts) calls pushUpdates() too, for idlers whose
 *   mailbox moved while events were lost (bus down or reconnecting).
 *
 * Wake-ups coalesce: while one sync is queued and not yet started, another adds
 * nothing (it will read everything committed so far), so a burst of events or
 * poll ticks slower than the database never builds a backlog.
 */
import type { Subscription } from "@aerogram/events";
import { MailboxGoneError, syncSelected } from "./mailbox-sync.ts";
import type { Session } from "./session.ts";

export class LiveUpdates {
  #chain: Promise<void> = Promise.resolve();
  /** A push sync is queued and has not started reading yet: further wake-ups join it. */
  #queued = false;
  /** A push sync is running (hibernation waits for it to finish). */
  #running = false;
  #subscription: Subscription | null = null;

  constructor(
    private readonly session: Session,
    /** An IDLE push failed on a backend error: the server's poll retries it soon. */
    private readonly onSyncFailed?: () => void,
  ) {}

  /** Listens to the account's events for one mailbox (SELECT/EXAMINE); null stops. */
  watch(accountId: number | null, mailboxId: number | null): void {
    this.#subscription?.unsubscribe();
    this.#subscription = null;
    if (accountId === null || mailboxId === null) return;
    this.#subscription = this.session.ctx.runtime.events.subscribe(accountId, (event) => {
      if (event.mailbox === mailboxId && this.session.idling) this.push();
    });
  }

  /** While IDLE: sync and write untagged updates at once (event or poll tick). */
  push(): void {
    if (this.#queued) return;
    this.#queued = true;
    const session = this.session;
    this.#chain = this.#chain
      .then(async () => {
        this.#queued = false;
        if (!session.idling || !session.selected || session.closed) return;
        this.#running = true;
        try {
          const chunks = await syncSelected(session, true);
          if (chunks.length === 0) return;
          await session.send(chunks);
          await session.out.endResponse();
        } finally {
          this.#running = false;
        }
      })
      .catch((err) => {
        if (err instanceof MailboxGoneError) void session.bye(null, "The selected mailbox was deleted");
        else {
          session.log.debug({ err }, "idle sync failed; the next poll retries");
          this.onSyncFailed?.();
        }
      });
  }

  /** No push queued or running. */
  get quiet(): boolean {
    return !this.#queued && !this.#running;
  }

  /** Waits for a push in progress to finish (IDLE's DONE). */
  settle(): Promise<void> {
    return this.#chain;
  }

  close(): void {
    this.watch(null, null);
  }
}
