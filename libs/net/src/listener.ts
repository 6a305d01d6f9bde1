/**
 * A TCP (or implicit-TLS) listener that knows its open connections, so a
 * service can stop accepting, let sessions finish, and close the rest on drain.
 */
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type SecureContext } from "node:tls";

export interface ConnectionInfo {
  remoteAddress: string;
  remotePort: number;
  /** True on an implicit-TLS listener. */
  secure: boolean;
}

export interface ListenerOptions {
  host: string;
  port: number;
  /** Implicit TLS when set. */
  tls?: SecureContext;
  onConnection(socket: Socket, info: ConnectionInfo): void;
  /** Errors of individual connections before they reach onConnection (TLS handshake failures). */
  onClientError?(err: Error): void;
}

export class Listener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: ListenerOptions) {
    const accept = (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      // A peer vanishing must never surface as an unhandled 'error'.
      socket.on("error", () => {});
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      opts.onConnection(socket, {
        remoteAddress: socket.remoteAddress ?? "",
        remotePort: socket.remotePort ?? 0,
        secure: opts.tls !== undefined,
      });
    };
    if (opts.tls) {
      const server = createTlsServer({ secureContext: opts.tls }, accept);
      server.on("tlsClientError", (err) => opts.onClientError?.(err));
      this.server = server;
    } else {
      this.server = createTcpServer(accept);
    }
    this.server.maxConnections = Number.POSITIVE_INFINITY;
  }

  /** Open connections right now. */
  get connections(): number {
    return this.sockets.size;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: this.opts.host, port: this.opts.port, backlog: 4096 }, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  /**
   * Stops accepting new connections; open ones continue. (server.close's own
   * callback waits for every connection to end, which is what drain is for.)
   */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Waits until every connection closed or `ms` passed; returns how many are still open. */
  async waitForConnections(ms: number): Promise<number> {
    const deadline = Date.now() + ms;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.sockets.size;
  }

  /** Destroys every open connection (after the drain grace period). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
