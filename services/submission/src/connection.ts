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
import { decodeOAuthBearer } from "@aerogram/auth";
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
  oauth = false;

  /**
   * AUTH OAUTHBEARER (RFC 7628), which smtp-server lacks (it has XOAUTH2):
   * the token goes to the same onAuth as the other mechanisms; a refusal is
   * the §3.2.2 error challenge (334 + base64 JSON), and after the client's
   * ^A the final 535.
   */
  override handler_AUTH(command: Buffer, callback: () => void): void {
    const args = command.toString().trim().split(/\s+/);
    if ((args[1] ?? "").toUpperCase() !== "OAUTHBEARER" || !this.oauth || this.session.user) {
      super.handler_AUTH(command, callback);
      return;
    }
    if (args.length > 3) {
      this.send(501, "Error: syntax: AUTH OAUTHBEARER initial-response");
      callback();
      return;
    }
    const step = (raw: string, done: () => void) => {
      const response = raw.trim();
      if (response === "*") {
        this.send(501, "Authentication aborted");
        return done();
      }
      const creds = decodeOAuthBearer(response === "=" ? "" : response);
      if (!creds) {
        this.send(501, "5.5.2 Malformed OAUTHBEARER response");
        return done();
      }
      this._server.onAuth(
        {
          method: "OAUTHBEARER" as never,
          username: creds.authzid,
          accessToken: creds.token,
          validatePassword: () => false,
        },
        this.session,
        (err, response) => {
          if (err) {
            this.send((err as { responseCode?: number }).responseCode ?? 535, err.message);
            return done();
          }
          if (!response?.user) {
            this._nextHandler = (_data, next) => {
              this._nextHandler = false;
              this.send(535, "5.7.8 Authentication credentials invalid");
              next();
            };
            this.send(334, Buffer.from(JSON.stringify(response?.data ?? {})).toString("base64"));
            return done();
          }
          this.session.user = response.user;
          this.session.transmissionType = this._transmissionType();
          this.send(235, "2.7.0 Authentication successful");
          done();
        },
      );
    };
    if (args[2] !== undefined) {
      step(args[2], callback);
      return;
    }
    this._nextHandler = (data, next) => {
      this._nextHandler = false;
      step(data.toString(), next);
    };
    this.send(334, "");
    callback();
  }

  override _isDisabled(command: string): boolean {
    if (command === "AUTH" && !this.secure && !this.insecureAuthAllowed && !isLoopback(this.remoteAddress))
      return true;
    return super._isDisabled(command);
  }
}

export class SubmissionServer extends AerogramSmtpServer {
  allowInsecureAuth = false;
  oauth = false;

  protected override createConnection(
    socket: Socket | TLSSocket,
    socketOptions?: SMTPConnectionOptions | null,
  ): AerogramSmtpConnection {
    const connection = new SubmissionConnection(this, socket, socketOptions);
    connection.insecureAuthAllowed = this.allowInsecureAuth;
    connection.oauth = this.oauth;
    return connection;
  }
}

export type Handlers = Pick<
  SMTPServerOptions,
  "onConnect" | "onAuth" | "onMailFrom" | "onRcptTo" | "onData" | "onClose"
>;

export interface SubmissionWiring extends BaseWiringOptions {
  allowInsecureAuth: boolean;
  /** Offer OAUTHBEARER and XOAUTH2 (an OIDC issuer is configured). */
  oauth?: boolean;
}

export function createSubmissionServer(o: SubmissionWiring, handlers: Handlers): SubmissionServer {
  const server = new SubmissionServer({
    ...baseServerOptions(o),
    banner: "Aerogram submission",
    authMethods: o.oauth ? ["PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2"] : ["PLAIN", "LOGIN"],
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
  server.oauth = o.oauth ?? false;
  return server;
}
