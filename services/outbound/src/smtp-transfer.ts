/**
 * One SMTP transaction to one host (RFC 5321 §3.3) with nodemailer's SMTP
 * client: EHLO, STARTTLS when offered (opportunistic, RFC 7435: an invalid
 * certificate still beats plain text; MTA-STS is what makes it mandatory),
 * optional AUTH to a smarthost, MAIL, one RCPT per recipient, DATA. The
 * outcome is a value: which recipients were taken, which refused for good
 * (5xx) or for now (4xx), or that the host could not be used at all.
 */
import type { Readable } from "node:stream";
import SMTPConnection from "nodemailer/lib/smtp-connection/index.js";

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
    }
  /** The whole message was refused (MAIL or DATA 5xx) or the host failed (4xx, network): try the next host or later. */
  | { kind: "refused"; permanent: boolean; code: number; reply: string }
  | { kind: "unreachable"; reason: string };

export interface TransferOptions {
  /** Our name in EHLO. */
  hostname: string;
  /** RFC 5321 §4.5.3.2 timeouts: one value for connect, greeting and each command (ms). */
  timeoutMs: number;
  /** Abort signal (the worker lost its lease): the connection is closed before the data is ended. */
  signal?: AbortSignal;
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

export function transfer(
  target: TransferTarget,
  envelope: { from: string; to: readonly string[]; size: number },
  message: () => Promise<Readable>,
  o: TransferOptions,
): Promise<TransferOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const conn = new SMTPConnection({
      host: target.host,
      port: target.port,
      secure: target.port === 465,
      name: o.hostname,
      connectionTimeout: o.timeoutMs,
      greetingTimeout: o.timeoutMs,
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
    const finish = (outcome: TransferOutcome) => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener("abort", onAbort);
      if (outcome.kind === "done") conn.quit();
      else conn.close();
      resolve(outcome);
    };
    const onAbort = () => finish({ kind: "unreachable", reason: "aborted: lease lost" });
    o.signal?.addEventListener("abort", onAbort);
    conn.on("error", (err: SmtpError) => {
      if (err.responseCode) {
        finish({
          kind: "refused",
          permanent: err.responseCode >= 500,
          code: err.responseCode,
          reply: replyOf(err),
        });
      } else
        finish({
          kind: "unreachable",
          reason: `${target.host}:${target.port}: ${err.code ?? ""} ${err.message}`,
        });
    });
    conn.connect(() => {
      const send = () => {
        void message().then(
          (stream) => {
            if (settled) {
              stream.destroy();
              return;
            }
            conn.send(
              { from: envelope.from, to: [...envelope.to], size: envelope.size },
              stream,
              (err, info) => {
                const tls = Boolean((conn as unknown as { secure?: boolean }).secure);
                if (err) {
                  const e = err as SmtpError;
                  if (e.rejectedErrors?.length) {
                    // Every recipient refused at RCPT: sort them by reply class.
                    const failures = e.rejectedErrors.map((r) => ({
                      recipient: r.recipient ?? "",
                      code: r.responseCode ?? 450,
                      reply: replyOf(r),
                    }));
                    return finish({
                      kind: "done",
                      delivered: [],
                      failed: failures.filter((f) => f.code >= 500),
                      deferred: failures.filter((f) => f.code < 500),
                      tls,
                    });
                  }
                  if (e.responseCode) {
                    return finish({
                      kind: "refused",
                      permanent: e.responseCode >= 500,
                      code: e.responseCode,
                      reply: replyOf(e),
                    });
                  }
                  return finish({
                    kind: "unreachable",
                    reason: `${target.host}: ${e.code ?? ""} ${e.message}`,
                  });
                }
                const rejected = ((info as { rejectedErrors?: SmtpError[] }).rejectedErrors ?? []).map(
                  (r) => ({
                    recipient: r.recipient ?? "",
                    code: r.responseCode ?? 450,
                    reply: replyOf(r),
                  }),
                );
                finish({
                  kind: "done",
                  delivered: (info.accepted as string[]).map(String),
                  failed: rejected.filter((f) => f.code >= 500),
                  deferred: rejected.filter((f) => f.code < 500),
                  tls,
                });
              },
            );
          },
          (err: Error) => finish({ kind: "unreachable", reason: `message unreadable: ${err.message}` }),
        );
      };
      if (target.auth) {
        conn.login({ user: target.auth.user, pass: target.auth.pass }, (err) => {
          if (err) {
            const e = err as SmtpError;
            return finish({
              kind: "refused",
              permanent: false,
              code: e.responseCode ?? 454,
              reply: `smarthost AUTH failed: ${replyOf(e)}`,
            });
          }
          send();
        });
      } else send();
    });
  });
}
