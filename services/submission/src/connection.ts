/**
 * smtp-server configured for submission: SMTP-in's connection class (line
 * limits, deadlines, enhanced codes) plus one rule: AUTH is offered and
 * accepted only over TLS, or from a loopback client (as Dovecot treats
 * localhost: the embedded default works with a local client and no
 * certificate), or when explicitly allowed for development. RFC 4954 §4 and
 * RFC 8314 §3: passwords never cross a network in the clear.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import {
  AerogramSmtpConnection,
  AerogramSmtpServer,
  type BaseWiringOptions,
  baseServerOptions,
} from "@aerogram/smtp";
import type { SMTPServerOptions } from "smtp-server";
import type { SMTPConnectionOptions } from "smtp-server/lib/smtp-connection.js";

export function isLoopback(ip: string): boolean {
  return ip === "::1" || /^(::ffff:)?127\./i.test(ip);
}

class SubmissionConnection extends AerogramSmtpConnection {
  insecureAuthAllowed = false;

  override _isDisabled(command: string): boolean {
    if (command === "AUTH" && !this.secure && !this.insecureAuthAllowed && !isLoopback(this.remoteAddress))
      return true;
    return super._isDisabled(command);
  }
}

export class SubmissionServer extends AerogramSmtpServer {
  allowInsecureAuth = false;

  protected override createConnection(
    socket: Socket | TLSSocket,
    socketOptions?: SMTPConnectionOptions | null,
  ): AerogramSmtpConnection {
    const connection = new SubmissionConnection(this, socket, socketOptions);
    connection.insecureAuthAllowed = this.allowInsecureAuth;
    return connection;
  }
}

export type Handlers = Pick<
  SMTPServerOptions,
  "onConnect" | "onAuth" | "onMailFrom" | "onRcptTo" | "onData" | "onClose"
>;

export interface SubmissionWiring extends BaseWiringOptions {
  allowInsecureAuth: boolean;
}

export function createSubmissionServer(o: SubmissionWiring, handlers: Handlers): SubmissionServer {
  const server = new SubmissionServer({
    ...baseServerOptions(o),
    banner: "Aerogram submission",
    authMethods: ["PLAIN", "LOGIN"],
    // smtp-server's own check is all-or-nothing; ours (SubmissionConnection) is per connection.
    allowInsecureAuth: true,
    // MAIL without AUTH is refused by our onMailFrom (530 5.7.0), also where AUTH is not offered yet.
    authOptional: true,
    disabledCommands: o.tls ? [] : ["STARTTLS"],
    // DSN (RFC 3461) parameters are accepted; failure notices are always sent
    // to a local sender (NOTIFY=NEVER is not honoured yet), success and delay notices never.
    hideDSN: false,
    hideREQUIRETLS: true,
    // No reverse lookups: an authenticated client's name is its login, not its PTR.
    disableReverseLookup: true,
    ...handlers,
  } as SMTPServerOptions);
  server.deadlines = o.deadlines;
  server.allowInsecureAuth = o.allowInsecureAuth;
  return server;
}
