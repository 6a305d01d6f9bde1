/**
 * The listening sockets of an smtp-server based service (SMTP-in and
 * submission): one Listener per port, each handing its sockets to its
 * smtp-server, and the graceful drain over all of them. One place, so the
 * MX and the submission ports shut down by the same rules.
 */
import { createSecureContext, type SecureContext } from "node:tls";
import { Listener, type TlsCertificates } from "@aerogram/net";
import type { Logger } from "@aerogram/observability";
import type { SmtpEndpointOptions } from "./endpoint.ts";
import type { AerogramSmtpServer } from "./smtp-server-wiring.ts";

class CurrentDefaultContext extends Map<string, SecureContext> {
  constructor(
    private readonly certificates: TlsCertificates,
    entries: Iterable<[string, SecureContext]>,
  ) {
    super(entries);
  }

  override get(name: string): SecureContext | undefined {
    return name === "*" ? this.certificates.context : super.get(name);
  }
}

export class SmtpListeners {
  private readonly servers: AerogramSmtpServer[] = [];
  private readonly listeners: Listener[] = [];
  private readonly boundPorts: number[] = [];

  /** label: the word in log lines ("smtp", "submission"). */
  constructor(
    private readonly opts: Pick<SmtpEndpointOptions, "bindAddress" | "tls" | "proxyProtocol">,
    private readonly log: Logger,
    private readonly label: string,
  ) {}

  /** Listens on port for server; secure: implicit TLS (RFC 8314). Returns the bound address. */
  async listen(
    server: AerogramSmtpServer,
    port: number,
    secure: boolean,
  ): Promise<{ address: string; port: number }> {
    const { log, label } = this;
    server.on("error", (err: Error) => log.debug({ err }, `${label} connection error`));
    const certificates = this.opts.tls?.certificates;
    // smtp-server's STARTTLS takes secureContext.get("*") for clients without
    // SNI: answer with the current (reloaded) default certificate.
    if (certificates) server.secureContext = new CurrentDefaultContext(certificates, server.secureContext);
    // Our Listener owns the socket (smtp-server's own useProxy reads PROXY
    // v1 only): it reads a v1/v2 header when configured, runs implicit TLS,
    // and hands the socket to smtp-server with the client's address.
    const listener = new Listener({
      host: this.opts.bindAddress,
      port,
      ...(secure && this.opts.tls
        ? { tls: this.opts.tls.certificates ?? createSecureContext(this.opts.tls) }
        : {}),
      ...(this.opts.proxyProtocol ? { proxyProtocol: this.opts.proxyProtocol } : {}),
      onConnection: (socket, info) =>
        server.connect(socket, { remoteAddress: info.remoteAddress, remotePort: info.remotePort }),
      onClientError: (err) => log.info({ err }, `${label} connection refused before the greeting`),
    });
    const addr = await listener.listen();
    this.servers.push(server);
    this.listeners.push(listener);
    this.boundPorts.push(addr.port);
    return addr;
  }

  /** The bound ports, in listen order. */
  ports(): number[] {
    return [...this.boundPorts];
  }

  /** Ends one session now with 421 (e.g. its login was revoked); false when it is gone already. */
  endSession(sessionId: string, text: string): boolean {
    for (const server of this.servers) {
      for (const c of server.connections) {
        if (c.session.id !== sessionId) continue;
        c.send(421, text);
        return true;
      }
    }
    return false;
  }

  /** Open SMTP sessions on every port. */
  connections(): number {
    return this.servers.reduce((n, s) => n + s.connections.size, 0);
  }

  /**
   * Stops accepting connections, answers 421 to sessions between transactions,
   * lets transactions under way finish, and after graceMs closes whatever is
   * left with 421. The service refuses new MAIL FROM itself while draining.
   */
  async drain(graceMs: number): Promise<void> {
    for (const listener of this.listeners) listener.stopAccepting();
    const deadline = Date.now() + graceMs;
    for (;;) {
      let open = 0;
      for (const server of this.servers) {
        for (const c of server.connections) {
          if (!c.session.envelope?.mailFrom || Date.now() >= deadline)
            c.send(421, "4.3.2 Service shutting down");
          else open++;
        }
      }
      if (open === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Every session got its 421 (which closes it); give the sockets a moment to go.
    for (const listener of this.listeners) {
      if ((await listener.waitForConnections(Math.max(1000, deadline - Date.now()))) > 0)
        listener.destroyAll();
    }
  }
}
