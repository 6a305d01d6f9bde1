/**
 * The read side of one connection: socket bytes into the protocol library's
 * CommandReader (framing, literal limits), and its events handed out one at a
 * time to the session's command loop.
 *
 * Input backpressure: past INPUT_HIGH_WATER unread bytes the socket is paused,
 * and resumed when the reader runs dry. STARTTLS swaps the socket underneath
 * (switchTo); nothing buffered before it survives (RFC 9051 §6.2.1).
 */
import type { Socket } from "node:net";
import type { CommandReader, ReaderEvent } from "@aerogram/imap-protocol";

const INPUT_HIGH_WATER = 1024 * 1024;

export class SessionInput {
  /** Bytes received so far (the client-family byte counter reads it). */
  bytesRead = 0;
  #socket: Socket;
  #closed = false;
  #wake: (() => void) | null = null;
  readonly #onData = (chunk: Buffer) => this.receive(chunk);

  constructor(
    socket: Socket,
    private readonly reader: CommandReader,
    /** Every chunk of input counts as activity (autologout). */
    private readonly onActivity: () => void,
  ) {
    this.#socket = socket;
    socket.on("data", this.#onData);
  }

  /** Socket bytes (and, after a hibernation, the bytes that woke it). */
  receive(chunk: Buffer): void {
    this.bytesRead += chunk.length;
    this.reader.push(chunk);
    this.onActivity();
    if (this.reader.bufferedBytes > INPUT_HIGH_WATER) this.#socket.pause();
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** The next reader event, waiting for input; null once the connection closed. */
  async nextEvent(): Promise<ReaderEvent | null> {
    for (;;) {
      if (this.#closed) return null;
      const event = this.reader.next();
      if (event) return event;
      if (this.#socket.isPaused()) this.#socket.resume();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** One raw line (AUTHENTICATE responses, IDLE's DONE); null when the connection closed. */
  async readLine(): Promise<Buffer | null> {
    this.reader.setMode("line");
    try {
      for (;;) {
        const event = await this.nextEvent();
        if (!event) return null;
        if (event.kind === "line") return event.line;
        if (event.kind === "error") return Buffer.alloc(0);
      }
    } finally {
      this.reader.setMode("command");
    }
  }

  /** STARTTLS: stop reading the plain socket and drop what it had pipelined. */
  detach(): Socket {
    this.reader.discardBufferedInput();
    this.#socket.off("data", this.#onData);
    return this.#socket;
  }

  /** STARTTLS: read from the TLS socket from now on. */
  switchTo(socket: Socket): void {
    this.#socket = socket;
    socket.on("data", this.#onData);
  }

  /** The connection closed: a waiting nextEvent() returns null. */
  close(): void {
    this.#closed = true;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
