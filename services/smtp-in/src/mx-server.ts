/**
 * The shared smtp-server (libs/smtp) configured for an MX: no AUTH, no relay,
 * no DSN, reverse lookups through our cached resolver.
 */
import {
  AerogramSmtpServer,
  type BaseWiringOptions,
  baseServerOptions,
  type Handlers,
  type SmtpLimitName,
} from "@aerogram/smtp";

export interface WiringOptions extends BaseWiringOptions {
  onLimit: (limit: SmtpLimitName) => void;
  reverse: (ip: string) => Promise<string[]>;
  /** SMTP_GREETING_DELAY_MS: the pregreet wait before the 220. */
  greetingDelayMs: number;
}

export function createSmtpServer(o: WiringOptions, handlers: Handlers): AerogramSmtpServer {
  const server = new AerogramSmtpServer({
    ...baseServerOptions(o),
    banner: "Aerogram",
    // An MX takes mail for our domains from anyone and relays for no one:
    // AUTH has no meaning on this port (submission is another service).
    authOptional: true,
    disabledCommands: o.tls ? ["AUTH"] : ["AUTH", "STARTTLS"],
    // DSN (RFC 3461) is not offered: a final-delivery MTA that offers it owes
    // "delivered" notifications for NOTIFY=SUCCESS, which we don't send.
    hideDSN: true,
    resolver: {
      reverse: (ip, callback) => {
        o.reverse(ip).then(
          (names) => callback(null, names),
          (err: Error) => callback(err),
        );
      },
    },
    ...handlers,
  });
  server.deadlines = o.deadlines;
  server.onLimit = o.onLimit;
  server.greetingDelayMs = o.greetingDelayMs;
  return server;
}
