/**
 * A local SMTP server that plays "the rest of the internet" for outbound
 * tests and benches: it records every message it takes (envelope and bytes),
 * and can refuse chosen recipients (5xx), defer everything (4xx), or hang
 * after the greeting, so remote failures are reproducible without a network.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface SinkMessage {
  from: string;
  to: string[];
  data: Buffer;
  /** MAIL FROM carried BODY=8BITMIME. */
  eightBitMime: boolean;
  /** RFC 3461 parameters as received (RET/ENVID of MAIL, NOTIFY/ORCPT per RCPT). */
  dsn: {
    ret: string | null;
    envid: string | null;
    recipients: { address: string; notify?: string[]; orcpt?: string }[];
  };
}

export interface SinkBehaviour {
  /** Recipients refused with 550 5.1.1. */
  reject?: readonly string[];
  /** Every RCPT answered 451 4.3.0 (a remote that defers forever). */
  deferAll?: boolean;
  /** Don't offer 8BITMIME (an old server, RFC 6152). */
  no8bitmime?: boolean;
  /** Never answer after the greeting (a remote that hangs). */
  hang?: boolean;
  /** Don't offer DSN (RFC 3461): a next hop that won't report deliveries. */
  noDsn?: boolean;
  /** Take the data but never answer the final dot while this returns true (a remote stuck filtering). */
  holdData?: () => boolean;
  /** Offer STARTTLS with this certificate. */
  tls?: { key: Buffer; cert: Buffer };
  /** Called for each accepted message (e.g. to count by Message-ID). */
  onMessage?: (m: SinkMessage) => void;
}

export interface SmtpSink {
  port: number;
  messages: SinkMessage[];
  /** TLS was used for this many transactions. */
  tlsTransactions: number;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

class SinkError extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startSmtpSink(b: SinkBehaviour = {}): Promise<SmtpSink> {
  const messages: SinkMessage[] = [];
  const rejected = new Set((b.reject ?? []).map((a) => a.toLowerCase()));
  const sink = { tlsTransactions: 0, connections: 0 };
  const server = new SMTPServer({
    authOptional: true,
    ...(b.tls ? { key: b.tls.key, cert: b.tls.cert } : { disabledCommands: ["STARTTLS"] }),
    logger: false,
    size: 100 * 1024 * 1024,
    hide8BITMIME: b.no8bitmime === true,
    hideDSN: b.noDsn === true,
    onConnect(_session, cb) {
      sink.connections++;
      if (!b.hang) cb();
    },
    onMailFrom(_a, _s, cb) {
      if (b.hang) return;
      cb();
    },
    onRcptTo(address, _session, cb) {
      if (b.deferAll) return cb(new SinkError(451, "4.3.0 try again later"));
      if (rejected.has(address.address.toLowerCase())) return cb(new SinkError(550, "5.1.1 no such user"));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (b.holdData?.()) return;
        const m = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          eightBitMime: (session.envelope as { bodyType?: string }).bodyType === "8bitmime",
          dsn: {
            ret: session.envelope.dsn?.ret ?? null,
            envid: session.envelope.dsn?.envid ?? null,
            recipients: session.envelope.rcptTo.map((r) => ({
              address: r.address,
              ...(r.dsn?.notify ? { notify: r.dsn.notify } : {}),
              ...(r.dsn?.orcpt ? { orcpt: r.dsn.orcpt } : {}),
            })),
          },
        };
        if (session.secure) sink.tlsTransactions++;
        messages.push(m);
        b.onMessage?.(m);
        cb();
      });
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    messages,
    get tlsTransactions() {
      return sink.tlsTransactions;
    },
    get connections() {
      return sink.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of (server as unknown as { connections: Set<{ close(): void }> }).connections) c.close();
        server.close(() => resolve());
      }),
  };
}
