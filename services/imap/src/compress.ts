/**
 * COMPRESS=DEFLATE (RFC 4978): the connection's bytes through raw DEFLATE
 * (RFC 1951) both ways, from just after the tagged OK on.
 *
 * DeflateTransport is a Duplex over the socket (plain or TLS) that the
 * session's input (session-input.ts) and output (output.ts) use in the
 * socket's place: every write is deflated and ended with a Z_SYNC_FLUSH
 * (RFC 4978 §4: the client must be able to decode each response without
 * waiting for more; output.ts writes once per response batch, so that is one
 * flush per batch), and every byte read is inflated before the command reader
 * sees it. Backpressure carries through: a full socket stalls the deflate
 * stream, which delays write callbacks, so output.ts waits for 'drain' as it
 * would on the socket; a paused session pauses the inflate stream, which
 * pauses the socket. Corrupt compressed input closes the connection.
 */
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { constants, createDeflateRaw, createInflateRaw } from "node:zlib";

export class DeflateTransport extends Duplex {
  readonly #deflate = createDeflateRaw({ level: 6 });
  readonly #inflate = createInflateRaw();

  constructor(private readonly socket: Socket) {
    super({ allowHalfOpen: false });
    this.#deflate.pipe(socket);
    socket.pipe(this.#inflate);
    this.#inflate.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) this.#inflate.pause();
    });
    const fail = () => {
      socket.destroy();
      this.destroy();
    };
    this.#inflate.on("error", fail);
    this.#deflate.on("error", fail);
    socket.once("close", () => this.destroy());
  }

  override _read(): void {
    this.#inflate.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#deflate.write(chunk);
    this.#deflate.flush(constants.Z_SYNC_FLUSH, () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#deflate.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#deflate.destroy();
    this.#inflate.destroy();
    if (!this.socket.destroyed) this.socket.destroy();
    callback(error);
  }
}

/**
 * The session's reader and writer take the transport where they took the
 * socket: they use only the stream side of it (write, 'data', 'drain',
 * 'close', pause/resume, destroyed/writable), which a Duplex has.
 */
export function deflateTransport(socket: Socket): Socket {
  return new DeflateTransport(socket) as unknown as Socket;
}
