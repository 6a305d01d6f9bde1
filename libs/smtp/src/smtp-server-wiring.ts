/**
 * smtp-server made to use our connection class (protocol-connection.ts) for
 * every accepted socket, and the options every SMTP service of ours shares.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { TlsCertificates } from "@aerogram/net";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import type { SMTPConnectionOptions } from "smtp-server/lib/smtp-connection.js";
import type { SmtpDeadlines } from "./deadlines.ts";
import type { SmtpLimitName } from "./limit-names.ts";
import { AerogramSmtpConnection } from "./protocol-connection.ts";

export class AerogramSmtpServer extends SMTPServer {
  /** Per-command and per-message deadlines for every connection (set by the service that creates the server). */
  deadlines: SmtpDeadlines | undefined;
  /** Told when smtp-server or a deadline refuses because of a configured limit (for the metric). */
  onLimit: (limit: SmtpLimitName) => void = () => {};
  /** How long the 220 waits for an early talker (protocol-connection.ts); smtp-server's own 100 ms unless set. */
  greetingDelayMs = 100;

  override connect(socket: Socket | TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = this.createConnection(socket, socketOptions);
    connection.deadlines = this.deadlines;
    connection.onLimit = this.onLimit;
    connection.greetingDelayMs = this.greetingDelayMs;
    this.connections.add(connection);
    connection.on("error", (err: Error) => this._onError(err));
    connection.on("connect", (data) => this._onClientConnect(data));
    connection.init();
  }

  /** The connection class for an accepted socket (submission subclasses it). */
  protected createConnection(
    socket: Socket | TLSSocket,
    socketOptions?: SMTPConnectionOptions | null,
  ): AerogramSmtpConnection {
    return new AerogramSmtpConnection(this, socket, socketOptions);
  }
}

export type Handlers = Pick<
  SMTPServerOptions,
  "onConnect" | "onMailFrom" | "onRcptTo" | "onData" | "onClose"
>;

/** What every smtp-server of ours (SMTP-in and submission) is configured with. */
export interface BaseWiringOptions {
  hostname: string;
  secure: boolean;
  tls: { key: Buffer; cert: Buffer; certificates?: TlsCertificates } | undefined;
  maxMessageBytes: number;
  maxRecipients: number;
  socketTimeoutMs: number;
  deadlines: SmtpDeadlines;
}

/**
 * The smtp-server options SMTP-in and submission share: name, TLS, SIZE with
 * 552 for oversized messages (RFC 1870), the recipient limit, the idle
 * timeout, and the extensions offered (ENHANCEDSTATUSCODES, PIPELINING,
 * 8BITMIME, SMTPUTF8); no smtp-server logging (we log ourselves).
 */
export function baseServerOptions(o: BaseWiringOptions): SMTPServerOptions {
  return {
    name: o.hostname,
    secure: o.secure,
    ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : {}),
    // STARTTLS picks the certificate by SNI from the reloaded set (smtp-listeners.ts keeps '*' current).
    ...(o.tls?.certificates ? { SNICallback: o.tls.certificates.sni } : {}),
    size: o.maxMessageBytes,
    rejectOversized: true,
    maxRecipients: o.maxRecipients,
    hideENHANCEDSTATUSCODES: false,
    hidePIPELINING: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    socketTimeout: o.socketTimeoutMs,
    logger: false,
  };
}
