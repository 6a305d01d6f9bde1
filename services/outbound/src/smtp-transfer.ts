/**
 * One SMTP transaction to one host (RFC 5321 §3.3) with nodemailer's SMTP
 * client: EHLO, STARTTLS when offered (opportunistic, RFC 7435: an invalid
 * certificate still beats plain text; MTA-STS is what makes it mandatory),
 * optional AUTH to a smarthost, MAIL, one RCPT per recipient, DATA. The
 * outcome is a value: which recipients were taken, which refused for good
 * (5xx) or for now (4xx), or that the host could not be used at all.
 *
 * A connection that ended its transaction cleanly is kept for a few seconds
 * (ConnectionCache) and reused for the next message to the same host, as
 * Postfix's connection cache does: most of a small message's cost is the
 * TCP/TLS setup and the greeting, not the transaction.
 *
 * When the server offers PIPELINING (RFC 2920) and the message is small
 * enough to hold (the worker reads it whole), the transaction itself is
 * pipelined-send.ts's: MAIL, RCPT and DATA in one write, the message in one
 * more. Otherwise nodemailer's send() streams it.
 */
import type { Readable } from "node:stream";
import SMTPConnection from "nodemailer/lib/smtp-connection/index.js";
import type { RelayDsn } from "./dsn-request.ts";
import { canPipeline, type PipelinedResult, pipelinedSend } from "./pipelined-send.ts";

export interface TransferTarget {
  host: string;
  port: number;
  auth?: { user: string; pass: string };
  /** TLS is required with a verified certificate (MTA-STS enforce). */
  requireVerifiedTls?: boolean;
  /** Extra trusted CAs for that verification (tests). */
  ca?: Buffer;
}

export interface RecipientFailure {
  recipient: string;
  code: number;
  /** The remote's reply, for the DSN's Diagnostic-Code. */
  reply: string;
}

export type TransferOutcome =
  /** The transaction ran: each recipient delivered, refused for good, or for now. */
  | {
      kind: "done";
      delivered: string[];
      failed: RecipientFailure[];
      deferred: RecipientFailure[];
      tls: boolean;
      /** The host offered DSN (RFC 3461): the parameters we passed are its to honour. */
      dsn: boolean;
    }
  /** The whole message was refused (MAIL or DATA 5xx) or the host failed (4xx, network): try the next host or later. */
  | { kind: "refused"; permanent: boolean; code: number; reply: string }
  | { kind: "unreachable"; reason: string };

export interface Envelope {
  from: string;
  to: readonly string[];
  size: number;
  /** The message has 8-bit octets: BODY=8BITMIME, and only to servers offering it. */
  eightBit?: boolean;
  /** RFC 3461 parameters for a next hop that offers DSN. */
  dsn?: RelayDsn;
}

/** The message to send: always as a stream; small ones also whole, for the pipelined path. */
export interface MessageSource {
  stream(): Promise<Readable>;
  /** The whole message in memory (undefined: too large to hold, stream it). */
  buffer?: () => Promise<Buffer>;
}

export interface TransferOptions {
  /** Our name in EHLO. */
  hostname: string;
  /** RFC 5321 §4.5.3.2 timeouts (ms): each command's reply; the default of the others. */
  timeoutMs: number;
  /** TCP connect (and implicit TLS). */
  connectTimeoutMs?: number;
  /** The 220 greeting (§4.5.3.2.1: 5 minutes). */
  greetingTimeoutMs?: number;
  /** The reply to the end of data (§4.5.3.2.6: 10 minutes, the remote may be filtering the message). */
  dataDoneTimeoutMs?: number;
  /** Abort signal (the worker lost its lease): the connection is closed before the data is ended. */
  signal?: AbortSignal;
  /** Reuse connections (default: a new one per transaction, closed with QUIT). */
  cache?: ConnectionCache;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  recipient?: string;
  rejectedErrors?: SmtpError[];
}

function replyOf(err: SmtpError): string {
  return (err.response ?? err.message).replace(/[\r\n]+/g, " ").slice(0, 500);
}

/** RCPT refusals as per-recipient failures. */
function failuresOf(errors: readonly SmtpError[]): RecipientFailure[] {
  return errors.map((r) => ({
    recipient: r.recipient ?? "",
    code: r.responseCode ?? 450,
    reply: replyOf(r),
  }));
}

/** A client error as an outcome: a reply refuses (its class says for how long); anything else is "unreachable". */
function outcomeOfError(err: SmtpError, target: TransferTarget): TransferOutcome {
  if (err.responseCode) {
    return {
      kind: "refused",
      permanent: err.responseCode >= 500,
      code: err.responseCode,
      reply: replyOf(err),
    };
  }
  return { kind: "unreachable", reason: `${target.host}:${target.port}: ${err.code ?? ""} ${err.message}` };
}

/** A connection with one error listener for its whole life, dispatching to the transaction using it. */
interface Open {
  conn: SMTPConnection;
  onError: ((err: SmtpError) => void) | undefined;
  dead: boolean;
}

function keyOf(t: TransferTarget): string {
  return `${t.host}:${t.port}:${t.auth?.user ?? ""}:${t.requireVerifiedTls ? "verified" : "opportunistic"}`;
}

/** Idle connections per host, each closed with QUIT after idleMs unused. */
export class ConnectionCache {
  private readonly idle = new Map<string, { open: Open; timer: NodeJS.Timeout }[]>();

  constructor(
    private readonly idleMs = 5000,
    private readonly maxPerHost = 10,
  ) {}

  take(target: TransferTarget): Open | undefined {
    const list = this.idle.get(keyOf(target));
    while (list?.length) {
      const { open, timer } = list.pop()!;
      clearTimeout(timer);
      if (!open.dead) return open;
    }
    return undefined;
  }

  give(target: TransferTarget, open: Open): void {
    const key = keyOf(target);
    const list = this.idle.get(key) ?? [];
    if (open.dead || list.length >= this.maxPerHost) {
      open.conn.quit();
      return;
    }
    const entry = {
      open,
      timer: setTimeout(() => {
        const i = list.indexOf(entry);
        if (i !== -1) list.splice(i, 1);
        open.conn.quit();
      }, this.idleMs),
    };
    entry.timer.unref();
    list.push(entry);
    this.idle.set(key, list);
  }

  close(): void {
    for (const list of this.idle.values()) {
      for (const { open, timer } of list) {
        clearTimeout(timer);
        open.conn.quit();
      }
    }
    this.idle.clear();
  }
}

function connectTo(target: TransferTarget, o: TransferOptions): Promise<Open | TransferOutcome> {
  return new Promise((resolve) => {
    const conn = new SMTPConnection({
      host: target.host,
      port: target.port,
      secure: target.port === 465,
      name: o.hostname,
      connectionTimeout: o.connectTimeoutMs ?? o.timeoutMs,
      greetingTimeout: o.greetingTimeoutMs ?? o.timeoutMs,
      socketTimeout: o.timeoutMs,
      opportunisticTLS: !target.requireVerifiedTls,
      requireTLS: target.requireVerifiedTls === true,
      tls: {
        rejectUnauthorized: target.requireVerifiedTls === true,
        servername: target.host,
        ...(target.ca ? { ca: target.ca } : {}),
      },
      logger: false,
    } as SMTPConnection.Options);
    const open: Open = { conn, onError: undefined, dead: false };
    let settled = false;
    const fail = (outcome: TransferOutcome) => {
      if (settled) return;
      settled = true;
      open.dead = true;
      conn.close();
      resolve(outcome);
    };
    open.onError = (err) => fail(outcomeOfError(err, target));
    conn.on("error", (err: SmtpError) => {
      open.dead = true;
      open.onError?.(err);
    });
    conn.on("end", () => {
      open.dead = true;
    });
    conn.connect(() => {
      if (!target.auth) {
        settled = true;
        return resolve(open);
      }
      conn.login({ user: target.auth.user, pass: target.auth.pass }, (err) => {
        if (err) {
          const e = err as SmtpError;
          return fail({
            kind: "refused",
            permanent: false,
            code: e.responseCode ?? 454,
            reply: `smarthost AUTH failed: ${replyOf(e)}`,
          });
        }
        settled = true;
        resolve(open);
      });
    });
  });
}

function sendOn(
  open: Open,
  target: TransferTarget,
  envelope: Envelope,
  message: MessageSource,
  o: TransferOptions,
): Promise<TransferOutcome> {
  const { conn } = open;
  return new Promise((resolve) => {
    let settled = false;
    const socket = () => (conn as unknown as { _socket?: { setTimeout(ms: number): void } })._socket;
    const finish = (outcome: TransferOutcome) => {
      if (settled) return;
      settled = true;
      // Back to the per-command timeout for the next transaction on this connection.
      if (o.dataDoneTimeoutMs) socket()?.setTimeout(o.timeoutMs);
      o.signal?.removeEventListener("abort", onAbort);
      open.onError = undefined;
      if (outcome.kind !== "done") {
        open.dead = true;
        conn.close();
      }
      resolve(outcome);
    };
    const onAbort = () => finish({ kind: "unreachable", reason: "aborted: lease lost" });
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener("abort", onAbort);
    open.onError = (err) => finish(outcomeOfError(err, target));
    const extensions = (conn as unknown as { _supportedExtensions?: string[] })._supportedExtensions ?? [];
    if (envelope.eightBit && !extensions.includes("8BITMIME")) {
      // RFC 6152 §3: 8-bit data must not go to a server without 8BITMIME, and we don't
      // downgrade (quoted-printable would break a DKIM body hash): a permanent failure.
      return finish({
        kind: "refused",
        permanent: true,
        code: 554,
        reply: `5.6.3 ${target.host} does not offer 8BITMIME; the message has 8-bit data`,
      });
    }
    const tls = () => Boolean((conn as unknown as { secure?: boolean }).secure);
    if (message.buffer && canPipeline(conn, envelope)) {
      void message.buffer().then(
        async (data) => {
          if (settled) return;
          const r = await pipelinedSend(conn, envelope, data, {
            beforeData: () => !settled && !o.signal?.aborted,
            // All data sent: the final reply may take longer (§4.5.3.2.6) than a command's.
            afterData: () => {
              if (o.dataDoneTimeoutMs) socket()?.setTimeout(o.dataDoneTimeoutMs);
            },
          });
          if (r === "aborted") return onAbort();
          if (r.unusable) open.dead = true;
          const outcome = outcomeOfPipelined(r, tls(), extensions.includes("DSN"));
          if (outcome.kind === "done" && r.unusable) conn.close();
          finish(outcome);
        },
        (err: Error) => finish({ kind: "unreachable", reason: `message unreadable: ${err.message}` }),
      );
      return;
    }
    void message.stream().then(
      (stream) => {
        if (settled) {
          stream.destroy();
          return;
        }
        // All data sent: the final reply may take longer (§4.5.3.2.6) than a command's.
        if (o.dataDoneTimeoutMs) stream.once("end", () => socket()?.setTimeout(o.dataDoneTimeoutMs!));
        const env = {
          from: envelope.from,
          to: [...envelope.to],
          size: envelope.size,
          use8BitMime: envelope.eightBit,
          // The typings say "Full"; the client upper-cases whatever it gets.
          ...(envelope.dsn ? { dsn: envelope.dsn as SMTPConnection.DSNOptions } : {}),
        };
        conn.send(env, stream, (err, info) => {
          const dsn = extensions.includes("DSN");
          if (err) {
            const e = err as SmtpError;
            if (e.rejectedErrors?.length) {
              // Every recipient refused at RCPT: sort them by reply class. The
              // connection stays usable after an RSET, but a fresh one is simpler.
              const failures = failuresOf(e.rejectedErrors);
              open.dead = true;
              conn.close();
              return finish({
                kind: "done",
                delivered: [],
                failed: failures.filter((f) => f.code >= 500),
                deferred: failures.filter((f) => f.code < 500),
                tls: tls(),
                dsn,
              });
            }
            return finish(outcomeOfError(e, target));
          }
          const rejected = failuresOf((info as { rejectedErrors?: SmtpError[] }).rejectedErrors ?? []);
          finish({
            kind: "done",
            delivered: (info.accepted as string[]).map(String),
            failed: rejected.filter((f) => f.code >= 500),
            deferred: rejected.filter((f) => f.code < 500),
            tls: tls(),
            dsn,
          });
        });
      },
      (err: Error) => finish({ kind: "unreachable", reason: `message unreadable: ${err.message}` }),
    );
  });
}

/** A pipelined transaction's replies as an outcome (the same classes as nodemailer's errors give). */
function outcomeOfPipelined(r: PipelinedResult, tls: boolean, dsn: boolean): TransferOutcome {
  const refused = r.mailRefused ?? r.dataRefused;
  if (refused) return { kind: "refused", permanent: refused.code >= 500, ...refused };
  return {
    kind: "done",
    delivered: r.accepted,
    failed: r.rejected.filter((f) => f.code >= 500),
    deferred: r.rejected.filter((f) => f.code < 500),
    tls,
    dsn,
  };
}

export async function transfer(
  target: TransferTarget,
  envelope: Envelope,
  message: MessageSource,
  o: TransferOptions,
): Promise<TransferOutcome> {
  const reused = o.cache?.take(target);
  if (reused) {
    const outcome = await sendOn(reused, target, envelope, message, o);
    if (outcome.kind === "done") {
      o.cache!.give(target, reused);
      return outcome;
    }
    // The remote may have closed the idle connection meanwhile: once more on a fresh one.
    if (outcome.kind !== "unreachable" || o.signal?.aborted) return outcome;
  }
  const opened = await connectTo(target, o);
  if (!("conn" in opened)) return opened;
  const outcome = await sendOn(opened, target, envelope, message, o);
  if (outcome.kind === "done") {
    if (o.cache) o.cache.give(target, opened);
    else opened.conn.quit();
  }
  return outcome;
}
