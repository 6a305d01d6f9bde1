/**
 * The socket side of a POP3 session: queued replies written in one go,
 * message bodies written with backpressure in corked batches, and the STLS
 * swap of the plaintext socket for the TLS one. Knows nothing of POP3 states.
 */
import type { Socket } from "node:net";
import { type TlsSource, upgradeToTls } from "@aerogram/net";

/** The peer went away (or the session closed) while a response was being written. */
export class ConnectionClosedError extends Error {}

export interface ConnectionEvents {
  /** Bytes from the client. */
  data(chunk: Buffer): void;
  /** Octets written, for the bytes-sent metric. */
  sent(octets: number): void;
  /** Something was written (resets the idle timer). */
  activity(): void;
}

export class Pop3Connection {
  #socket: Socket;
  readonly #events: ConnectionEvents;
  /** Replies queued by handlers, written together when the pipeline is drained. */
  readonly #pending: Buffer[] = [];
  #closed = false;

  constructor(socket: Socket, events: ConnectionEvents) {
    this.#socket = socket;
    this.#events = events;
  }

  get socket(): Socket {
    return this.#socket;
  }

  /** Starts reading; also on the TLS socket after STLS. */
  attach(): void {
    this.#socket.on("data", this.#events.data);
    this.#socket.on("error", () => {});
  }

  queue(response: Buffer): void {
    this.#pending.push(response);
  }

  /** Writes the queued replies (one write, however many). */
  flush(): void {
    if (this.#pending.length === 0 || this.#closed) return;
    const out = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending.length = 0;
    this.#events.sent(out.length);
    this.#socket.write(out);
  }

  /**
   * Writes with backpressure (message bodies), after any queued replies, in
   * one corked batch (one writev, no concatenation); throws when the peer is
   * gone.
   */
  async write(...data: Buffer[]): Promise<void> {
    const socket = this.#socket;
    if (this.#closed || socket.destroyed) throw new ConnectionClosedError();
    const parts = this.#pending.length > 0 ? [...this.#pending.splice(0), ...data] : data;
    let octets = 0;
    for (const p of parts) octets += p.length;
    if (octets === 0) return;
    this.#events.sent(octets);
    this.#events.activity();
    let flowing = true;
    if (parts.length === 1) {
      flowing = socket.write(parts[0]!);
    } else {
      socket.cork();
      for (const p of parts) if (p.length > 0) flowing = socket.write(p);
      socket.uncork();
    }
    if (flowing) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        socket.off("close", onClose);
        resolve();
      };
      const onClose = () => {
        socket.off("drain", onDrain);
        reject(new ConnectionClosedError());
      };
      socket.once("drain", onDrain);
      socket.once("close", onClose);
    });
  }

  /** STLS (RFC 2595 §4): stop reading plaintext, then hand the socket to TLS. Throws when the handshake fails. */
  async upgrade(context: TlsSource): Promise<void> {
    const plain = this.#socket;
    plain.off("data", this.#events.data);
    this.#socket = await upgradeToTls(plain, context);
    this.attach();
  }

  /** Pauses reading (too many pipelined lines queued). */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    if (this.#socket.isPaused()) this.#socket.resume();
  }

  /** Flushes and half-closes; a peer that never closes its side doesn't keep the socket. */
  end(): void {
    this.flush();
    this.#closed = true;
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.#closed = true;
    this.#socket.destroy();
  }
}
