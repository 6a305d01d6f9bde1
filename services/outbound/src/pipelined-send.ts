/**
 * One mail transaction with RFC 2920 PIPELINING on a connection nodemailer
 * opened (greeting, EHLO, STARTTLS, AUTH are its): MAIL, every RCPT and DATA
 * leave in one write, and after the 354 the whole dot-stuffed message and
 * its final dot in a second. nodemailer's own send() waits for each reply
 * before the next command (it pipelines only the RCPTs) and streams the
 * message through a transform in chunks; the CPU profile of the bench put
 * that per-command turn-taking among the outbound worker's largest costs,
 * and Postfix's client pipelines the same way (RFC 2920 §3.1).
 *
 * Replies come back through nodemailer's reply parser (its queue of response
 * actions), so its socket timeouts and error events still end the
 * transaction; the outcome is the same value transfer() returns.
 *
 * RFC 2920 §3.1: the client must check every reply; a DATA that gets 354
 * although MAIL or every RCPT failed is ended at once with a lone dot (no
 * message is sent) and the connection is then not reused.
 */
import type { Socket } from "node:net";
import type SMTPConnection from "nodemailer/lib/smtp-connection/index.js";
import type { RelayDsn } from "./dsn-request.ts";

/** The parts of nodemailer's connection this relies on (stable since nodemailer 6). */
interface ConnectionInternals {
  _socket: Socket;
  _responseActions: ((reply: string) => void)[];
  _supportedExtensions: string[];
  _destroyed: boolean;
}

export interface PipelinedEnvelope {
  from: string;
  to: readonly string[];
  size: number;
  eightBit?: boolean;
  dsn?: RelayDsn;
}

/** What each pipelined command got; the caller turns it into a TransferOutcome. */
export interface PipelinedResult {
  /** The MAIL reply when it was not 2xx. */
  mailRefused?: { code: number; reply: string };
  accepted: string[];
  rejected: { recipient: string; code: number; reply: string }[];
  /** The DATA reply when it was not 354, or the final reply after the dot. */
  dataRefused?: { code: number; reply: string };
  /** The connection must not carry another transaction (the state after a refusal is not certain). */
  unusable: boolean;
}

/** Whether this envelope can take the pipelined path on this connection. */
export function canPipeline(conn: SMTPConnection, envelope: PipelinedEnvelope): boolean {
  const c = conn as unknown as ConnectionInternals;
  if (!c._supportedExtensions?.includes("PIPELINING") || !c._socket || c._destroyed) return false;
  // nodemailer's path handles (and refuses) the unusual: non-ASCII addresses (SMTPUTF8), CR/LF or brackets.
  const plain = (a: string) => /^[\x21-\x7e]*$/.test(a) && !/[<>]/.test(a);
  return plain(envelope.from) && envelope.to.length > 0 && envelope.to.every((a) => a.length > 0 && plain(a));
}

/** RFC 3461 §4 xtext: "+", "=" and octets outside 0x21-0x7E as +XX. */
export function encodeXtext(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    out +=
      byte < 0x21 || byte > 0x7e || byte === 0x2b || byte === 0x3d
        ? `+${byte.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(byte);
  }
  return out;
}

/** The MAIL and RCPT lines, with the parameters the server offers (as nodemailer would send them). */
export function envelopeCommands(extensions: readonly string[], e: PipelinedEnvelope): string {
  const mail: string[] = [];
  if (e.eightBit && extensions.includes("8BITMIME")) mail.push("BODY=8BITMIME");
  if (e.size && extensions.includes("SIZE")) mail.push(`SIZE=${e.size}`);
  const dsn = extensions.includes("DSN") ? e.dsn : undefined;
  if (dsn?.ret) mail.push(`RET=${dsn.ret.toUpperCase() === "FULL" ? "FULL" : "HDRS"}`);
  if (dsn?.envid) mail.push(`ENVID=${encodeXtext(dsn.envid)}`);
  const rcpt: string[] = [];
  if (dsn?.notify) rcpt.push(`NOTIFY=${dsn.notify.toUpperCase().replace(/\s+/g, "")}`);
  if (dsn?.orcpt)
    rcpt.push(`ORCPT=${encodeXtext(dsn.orcpt.includes(";") ? dsn.orcpt : `rfc822;${dsn.orcpt}`)}`);
  const params = (p: string[]) => (p.length ? ` ${p.join(" ")}` : "");
  let out = `MAIL FROM:<${e.from}>${params(mail)}\r\n`;
  for (const to of e.to) out += `RCPT TO:<${to}>${params(rcpt)}\r\n`;
  return out;
}

const DOT = Buffer.from(".");
const LF_DOT = Buffer.from("\n.");
const END = Buffer.from(".\r\n");
const CRLF_END = Buffer.from("\r\n.\r\n");

/** RFC 5321 §4.5.2 transparency: a line starting with "." gets another; then the end-of-data line. */
export function dataBlock(message: Buffer): Buffer {
  const pieces: Buffer[] = [];
  let from = 0;
  if (message[0] === 0x2e) pieces.push(DOT);
  for (let i = message.indexOf(LF_DOT); i !== -1; i = message.indexOf(LF_DOT, i + 2)) {
    pieces.push(message.subarray(from, i + 1), DOT);
    from = i + 1;
  }
  pieces.push(message.subarray(from));
  const endsWithLine = message.length === 0 || message[message.length - 1] === 0x0a;
  pieces.push(endsWithLine ? END : CRLF_END);
  return Buffer.concat(pieces);
}

const codeOf = (reply: string) => Number(reply.slice(0, 3)) || 0;
const clean = (reply: string) =>
  reply
    .replace(/[\r\n]+/g, " ")
    .trim()
    .slice(0, 500);

/**
 * Runs the transaction; resolves when the last reply is in. Socket errors and
 * timeouts are not seen here: they reach the connection's error listener
 * (the caller's), which ends the transaction its own way.
 *
 * `beforeData` is asked once the 354 is in: false (the lease was lost) sends
 * no message; the caller closes the connection.
 */
export function pipelinedSend(
  conn: SMTPConnection,
  envelope: PipelinedEnvelope,
  message: Buffer,
  hooks: { beforeData: () => boolean; afterData?: () => void },
): Promise<PipelinedResult | "aborted"> {
  const c = conn as unknown as ConnectionInternals;
  return new Promise((resolve) => {
    const result: PipelinedResult = { accepted: [], rejected: [], unusable: false };
    c._responseActions.push((reply) => {
      if (codeOf(reply) >= 300 || codeOf(reply) < 200) {
        result.mailRefused = { code: codeOf(reply), reply: clean(reply) };
      }
    });
    for (const to of envelope.to) {
      c._responseActions.push((reply) => {
        if (result.mailRefused) return; // "no valid sender" for every RCPT: the MAIL refusal says it
        const code = codeOf(reply);
        if (code >= 200 && code < 300) result.accepted.push(to);
        else result.rejected.push({ recipient: to, code, reply: clean(reply) });
      });
    }
    c._responseActions.push((reply) => {
      const code = codeOf(reply);
      if (code !== 354) {
        if (!result.mailRefused && result.accepted.length > 0) {
          result.dataRefused = { code, reply: clean(reply) };
        }
        result.unusable = true;
        return resolve(result);
      }
      if (result.mailRefused || result.accepted.length === 0) {
        // RFC 2920 §3.1: nothing to deliver; end the data at once, not reusing the session.
        result.unusable = true;
        c._responseActions.push(() => resolve(result));
        c._socket.write(END);
        return;
      }
      if (!hooks.beforeData()) return resolve("aborted");
      c._responseActions.push((final) => {
        const finalCode = codeOf(final);
        if (finalCode < 200 || finalCode >= 300) {
          result.dataRefused = { code: finalCode, reply: clean(final) };
          result.unusable = true;
        }
        resolve(result);
      });
      c._socket.write(dataBlock(message));
      hooks.afterData?.();
    });
    c._socket.write(`${envelopeCommands(c._supportedExtensions, envelope)}DATA\r\n`);
  });
}
