/**
 * A TCP (or implicit-TLS) listener that knows its open connections, so a
 * service can stop accepting, let sessions finish, and close the rest on drain.
 */
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { readProxyHeader } from "./proxy-socket.ts";
import { type TlsSource, tlsServerOptions } from "./tls.ts";
import { isTrustedPeer, parseTrustedNetworks, type TrustedNetworks } from "./trusted-networks.ts";

const TLS_HANDSHAKE_TIMEOUT_MS = 30_000;

export interface ConnectionInfo {
  remoteAddress: string;
  remotePort: number;
  /** True on an implicit-TLS listener. */
  secure: boolean;
  /** With PROXY protocol: the balancer's own address (remoteAddress is then the client's). */
  proxiedBy?: string;
}

export interface ProxyProtocolOptions {
  /**
   * Peers allowed to send the header (CIDRs or addresses). When given, a
   * connection from any other address is closed; when absent, any peer may.
   */
  trustedNetworks?: string[];
  /** How long a connection may take to send its header (default 5 s). */
  headerTimeoutMs?: number;
}

export interface ListenerOptions {
  host: string;
  port: number;
  /** Implicit TLS when set (a TlsCertificates: per-SNI certificates, reloaded). */
  tls?: TlsSource;
  onConnection(socket: Socket, info: ConnectionInfo): void;
  /** Errors of individual connections before they reach onConnection (TLS handshake and PROXY header failures). */
  onClientError?(err: Error): void;
  /**
   * Expect a PROXY protocol v1/v2 header (HAProxy) on every connection, before
   * TLS: onConnection then sees the client's address. Connections without a
   * valid header, or from an untrusted peer, are closed.
   */
  proxyProtocol?: ProxyProtocolOptions;
}

export class Listener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: ListenerOptions) {
    const track = (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      // A peer vanishing must never surface as an unhandled 'error'.
      socket.on("error", () => {});
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
    };
    const accept = (socket: Socket) => {
      track(socket);
      opts.onConnection(socket, {
        remoteAddress: socket.remoteAddress ?? "",
        remotePort: socket.remotePort ?? 0,
        secure: opts.tls !== undefined,
      });
    };
    if (opts.proxyProtocol) {
      // The header comes before any TLS bytes, so TLS (if any) starts after it on the raw socket.
      const proxy = opts.proxyProtocol;
      const trusted = proxy.trustedNetworks && parseTrustedNetworks(proxy.trustedNetworks);
      this.server = createTcpServer((socket) => {
        track(socket);
        void this.acceptProxied(socket, proxy, trusted);
      });
    } else if (opts.tls) {
      // Not tls.createServer: it ignores a prebuilt SecureContext (it takes
      // cert/key options), so implicit TLS wraps the accepted TCP socket the
      // same way STARTTLS and the PROXY path do.
      this.server = createTcpServer((socket) => {
        track(socket);
        this.startImplicitTls(socket, {
          remoteAddress: socket.remoteAddress ?? "",
          remotePort: socket.remotePort ?? 0,
          secure: true,
        });
      });
    } else {
      this.server = createTcpServer(accept);
    }
    this.server.maxConnections = Number.POSITIVE_INFINITY;
  }

  private async acceptProxied(
    socket: Socket,
    proxy: ProxyProtocolOptions,
    trusted: TrustedNetworks | undefined,
  ): Promise<void> {
    const peer = socket.remoteAddress ?? "";
    const reject = (message: string) => {
      this.opts.onClientError?.(new Error(`${message} (peer ${peer})`));
      socket.destroy();
    };
    if (trusted && !isTrustedPeer(peer, trusted))
      return reject("PROXY protocol: peer is not a trusted proxy");
    let header: Awaited<ReturnType<typeof readProxyHeader>>;
    try {
      header = await readProxyHeader(socket, proxy.headerTimeoutMs ?? 5000);
    } catch (err) {
      return reject((err as Error).message);
    }
    const told = header.command === "proxy" ? header.source : undefined;
    const info: ConnectionInfo = {
      remoteAddress: told?.address ?? peer,
      remotePort: told?.port ?? socket.remotePort ?? 0,
      secure: this.opts.tls !== undefined,
      proxiedBy: peer,
    };
    if (!this.opts.tls) {
      this.opts.onConnection(socket, info);
      return;
    }
    // Implicit TLS behind the balancer: the handshake reads what followed the header.
    this.startImplicitTls(socket, info);
  }

  /** Runs the server side of a TLS handshake on an accepted socket, then hands the TLS socket over. */
  private startImplicitTls(socket: Socket, info: ConnectionInfo): void {
    if (!this.opts.tls) return;
    const tls = new TLSSocket(socket, { isServer: true, ...tlsServerOptions(this.opts.tls) });
    let secure = false;
    const handshakeTimer = setTimeout(() => tls.destroy(), TLS_HANDSHAKE_TIMEOUT_MS);
    tls.on("error", (err) => {
      if (secure) return; // after the handshake the session owns its errors
      clearTimeout(handshakeTimer);
      this.opts.onClientError?.(err);
      socket.destroy();
    });
    tls.once("secure", () => {
      secure = true;
      clearTimeout(handshakeTimer);
      this.opts.onConnection(tls, info);
    });
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
