/**
 * The session's output side: response chunks to the socket with backpressure.
 * Small Buffers are gathered and written together (one syscall per response
 * batch, not per line); a StreamLiteral's source is piped in order, waiting
 * for 'drain' whenever the socket's buffer is full, so a 20 MB body part never
 * sits in memory and a slow reader slows only its own session.
 *
 * Pipelined commands share a write: a command's complete response may stay
 * queued (`endResponse({ more: true })`, the session has more input to run)
 * until the input is drained or the event loop turns (the next command waits
 * on I/O): one setImmediate writes what is queued. Responses stay in order
 * (one queue), backpressure holds (a full socket makes the next endResponse
 * wait for 'drain'), and everything that must be on the wire before something
 * else happens (STARTTLS, COMPRESS, close, hibernation, IDLE pushes) flushes
 * at once.
 */
import type { Socket } from "node:net";
import { type ResponseChunk, StreamLiteral } from "@aerogram/imap-protocol";

const GATHER_LIMIT = 64 * 1024;

export class Output {
  #socket: Socket;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Bytes of a response already on the wire: an error now leaves the stream unusable. */
  midResponse = false;
  /** Bytes handed to the socket so far (the client-family byte counter reads it). */
  bytesWritten = 0;
  /** Socket writes so far (one per batch; tests check pipelined answers share them). */
  writes = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** After STARTTLS the TLS socket replaces the plain one. */
  replaceSocket(socket: Socket): void {
    this.flushNow();
    this.#socket = socket;
  }

  get closed(): boolean {
    return this.#socket.destroyed || !this.#socket.writable;
  }

  /** Queues one response; stream literals flush what is queued and are piped at once. */
  async send(chunks: readonly ResponseChunk[]): Promise<void> {
    for (const chunk of chunks) {
      if (chunk instanceof StreamLiteral) {
        this.midResponse = true;
        await this.flush();
        await this.#pipe(chunk);
      } else {
        this.#pending.push(chunk);
        this.#pendingBytes += chunk.length;
        if (this.#pendingBytes >= GATHER_LIMIT) {
          this.midResponse = true;
          await this.flush();
        }
      }
    }
  }

  /** Writes everything queued; waits for 'drain' when the socket is full. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const data = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    await this.#write(data);
  }

  /**
   * Responses are complete (a command ended): flush and clear the mid-response
   * mark. With `more` (another pipelined command is already buffered) the write
   * may wait for the next command's output, at most until the event loop turns.
   */
  async endResponse(options?: { more?: boolean }): Promise<void> {
    this.midResponse = false;
    if (this.#pending.length === 0) return;
    if (options?.more && this.#pendingBytes < GATHER_LIMIT && !this.#socket.writableNeedDrain) {
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flushLater);
      }
      return;
    }
    await this.flush();
  }

  /** Complete responses are queued and not written yet. */
  get hasPending(): boolean {
    return this.#pending.length > 0;
  }

  /** Writes what is queued now without waiting for 'drain' (close, a deferred batch). */
  flushNow(): void {
    if (this.#pending.length === 0) return;
    const data = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    this.bytesWritten += data.length;
    this.writes++;
    socket.write(data);
  }

  #scheduled = false;
  readonly #flushLater = () => {
    this.#scheduled = false;
    // Between awaits the queue holds whole responses (send() queues a response's
    // chunks synchronously), so writing it now never splits one.
    this.flushNow();
  };

  async #write(data: Buffer): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed) throw new Error("connection closed");
    this.bytesWritten += data.length;
    this.writes++;
    if (!socket.write(data)) await waitForDrain(socket);
  }

  async #pipe(literal: StreamLiteral): Promise<void> {
    let written = 0;
    for await (const piece of literal.source as AsyncIterable<Buffer>) {
      const buf = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array);
      const room = literal.size - written;
      if (room <= 0) break;
      const part = buf.length > room ? buf.subarray(0, room) : buf;
      written += part.length;
      await this.#write(part);
    }
    // The header promised `size` octets: a short source (a truncated blob) cannot be
    // patched up without lying about the content, so the stream is unusable.
    if (written !== literal.size)
      throw new Error(`literal source ended after ${written}/${literal.size} octets`);
  }
}

function waitForDrain(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      socket.off("drain", onDrain);
      socket.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error("connection closed"));
    socket.on("drain", onDrain);
    socket.on("close", onClose);
  });
}
