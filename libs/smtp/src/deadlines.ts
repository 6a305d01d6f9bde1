/**
 * Overall time limits for the phases of an SMTP session (RFC 5321 §4.5.3.2),
 * on top of smtp-server's idle timeout, which every byte restarts (so alone it
 * lets a client that trickles a byte every few minutes hold a connection
 * forever):
 *
 * - a command: once a reply (or the greeting) lets the client speak, its next
 *   whole command line must arrive within `commandMs` (§4.5.3.2.7: 5 minutes),
 *   however its bytes are spread;
 * - a message: from the 354 to the final dot within `dataMs` (§4.5.3.2.6, the
 *   10-minute DATA termination timeout, as the floor) plus one second for
 *   every `dataMinBytesPerSecond` octets received, so a large message on a
 *   slow link gets time in proportion to its size while a trickle gains
 *   nothing (50 MB at the default 4 KiB/s: 10 min + 3.6 h; a client sending
 *   slower than that on average is cut off once past the floor).
 *
 * The server's own time (handlers, delivery after the dot) is not counted:
 * the client owes nothing then. On expiry the connection gets
 * `421 4.4.2 <host> Error: timeout exceeded` and is closed. One IdleSweeper
 * (libs/net) for every connection, as IMAP and POP3 use for their login
 * deadline: a session costs a Map entry, not a timer.
 */
import { type IdleSession, IdleSweeper } from "@aerogram/net";

export interface SmtpDeadlineOptions {
  /** A whole command line within this long of the reply before it (default 5 min). */
  commandMs: number;
  /** The floor of a whole DATA transfer (default 10 min). */
  dataMs: number;
  /** Each this many octets of message add one second to the DATA deadline (default 4 KiB). */
  dataMinBytesPerSecond: number;
}

export const DEFAULT_DEADLINES: SmtpDeadlineOptions = {
  commandMs: 5 * 60_000,
  dataMs: 10 * 60_000,
  dataMinBytesPerSecond: 4096,
};

export class SmtpDeadlines {
  readonly #sweeper: IdleSweeper;

  constructor(readonly options: SmtpDeadlineOptions) {
    // Expiry is checked every second (finer for the short deadlines of tests).
    this.#sweeper = new IdleSweeper(Math.max(20, Math.min(1000, Math.floor(options.commandMs / 10))));
  }

  /** The client may send its next command now. */
  awaitCommand(session: IdleSession): void {
    this.#sweeper.watch(session, Number.POSITIVE_INFINITY, this.options.commandMs);
  }

  /** The 354 went out: the message is owed. */
  awaitData(session: IdleSession): void {
    this.#sweeper.watch(session, Number.POSITIVE_INFINITY, this.options.dataMs);
  }

  /** Message octets arrived: more time, in proportion. */
  received(session: IdleSession, octets: number): void {
    this.#sweeper.extendDeadline(session, (octets * 1000) / this.options.dataMinBytesPerSecond);
  }

  /** The server owes the next step (a command or a message is being handled), or the session is over. */
  pause(session: IdleSession): void {
    this.#sweeper.unwatch(session);
  }

  close(): void {
    this.#sweeper.close();
  }
}
