/**
 * A small client for rspamd's HTTP protocol (https://rspamd.com/doc/developers/protocol.html):
 * POST /checkv2 with the message as the body and the SMTP envelope as request
 * headers (IP, Helo, From, one Rcpt header per recipient, Queue-Id, Hostname),
 * and the controller's POST /learnspam and /learnham.
 *
 * Errors are values: a refused connection, a timeout, an HTTP error or a body
 * that is not the JSON we expect all come back as `{ ok: false, reason }`, so
 * the caller decides (deliver unscanned or tempfail) and nothing throws into
 * the SMTP transaction. Every request is bounded by `timeoutMs` and the reply
 * body by MAX_REPLY_BYTES.
 */
import { request } from "node:http";

/** rspamd's actions (rspamd's "metric" actions, lower case with a space as it sends them). */
export const SPAM_ACTIONS = [
  "no action",
  "greylist",
  "add header",
  "rewrite subject",
  "soft reject",
  "reject",
] as const;
export type SpamAction = (typeof SPAM_ACTIONS)[number];

export interface SpamVerdict {
  action: SpamAction;
  score: number;
  requiredScore: number;
  /** Symbol names that fired (for the header; never for metric labels). */
  symbols: string[];
  /** rspamd's own text for the SMTP reply (messages.smtp_message), if any. */
  smtpMessage: string | undefined;
}

export type RspamdFailure = "timeout" | "unreachable" | "bad_response";
export type CheckResult =
  | { ok: true; verdict: SpamVerdict }
  | { ok: false; reason: RspamdFailure; detail: string };
export type LearnResult = { ok: true } | { ok: false; reason: RspamdFailure; detail: string };

export interface CheckMeta {
  ip: string;
  helo: string;
  /** MAIL FROM, "" for <>. */
  from: string;
  rcpt: readonly string[];
  queueId: string;
  /** The client's host name from reverse DNS, if known. */
  hostname?: string;
}

export interface RspamdClientOptions {
  /** The normal worker, e.g. http://127.0.0.1:11333 (checkv2). */
  url: string;
  /** The controller, e.g. http://127.0.0.1:11334 (learnspam/learnham); default: url. */
  controllerUrl?: string;
  /** The controller's password (the Password header), if it requires one. */
  password?: string;
  timeoutMs: number;
}

const MAX_REPLY_BYTES = 1024 * 1024;

/** Header values go on an HTTP request line: keep CR/LF and other controls out. */
function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "");
}

function post(
  url: URL,
  body: Buffer,
  headers: Record<string, string | string[]>,
  timeoutMs: number,
): Promise<
  { ok: true; status: number; body: string } | { ok: false; reason: RspamdFailure; detail: string }
> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Parameters<typeof resolve>[0]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = request(url, {
      method: "POST",
      headers: { ...headers, "Content-Length": String(body.length) },
    });
    const timer = setTimeout(() => {
      done({ ok: false, reason: "timeout", detail: `no answer within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on("error", (err) => done({ ok: false, reason: "unreachable", detail: err.message }));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_REPLY_BYTES) {
          done({ ok: false, reason: "bad_response", detail: "reply too large" });
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on("error", (err) => done({ ok: false, reason: "unreachable", detail: err.message }));
      res.on("end", () =>
        done({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
    });
    req.end(body);
  });
}

/** Reads /checkv2's JSON; anything unexpected is a bad_response. */
export function parseCheckReply(text: string): CheckResult {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return { ok: false, reason: "bad_response", detail: "not JSON" };
  }
  if (typeof j !== "object" || j === null)
    return { ok: false, reason: "bad_response", detail: "not an object" };
  const o = j as Record<string, unknown>;
  const action = o.action;
  if (typeof action !== "string" || !(SPAM_ACTIONS as readonly string[]).includes(action)) {
    return { ok: false, reason: "bad_response", detail: `unknown action ${JSON.stringify(action)}` };
  }
  const score = typeof o.score === "number" && Number.isFinite(o.score) ? o.score : 0;
  const required =
    typeof o.required_score === "number" && Number.isFinite(o.required_score) ? o.required_score : 0;
  const symbols =
    typeof o.symbols === "object" && o.symbols !== null ? Object.keys(o.symbols as object).slice(0, 100) : [];
  const messages = (typeof o.messages === "object" && o.messages !== null ? o.messages : {}) as Record<
    string,
    unknown
  >;
  const smtpMessage = typeof messages.smtp_message === "string" ? messages.smtp_message : undefined;
  return {
    ok: true,
    verdict: { action: action as SpamAction, score, requiredScore: required, symbols, smtpMessage },
  };
}

export class RspamdClient {
  readonly #check: URL;
  readonly #controller: URL;

  constructor(private readonly opts: RspamdClientOptions) {
    this.#check = new URL("/checkv2", opts.url);
    this.#controller = new URL(opts.controllerUrl ?? opts.url);
  }

  async check(message: Buffer, meta: CheckMeta): Promise<CheckResult> {
    const headers: Record<string, string | string[]> = {
      IP: headerSafe(meta.ip),
      Helo: headerSafe(meta.helo),
      "Queue-Id": headerSafe(meta.queueId),
    };
    // rspamd reads an empty From as the null reverse-path.
    headers.From = headerSafe(meta.from);
    if (meta.rcpt.length) headers.Rcpt = meta.rcpt.map(headerSafe);
    if (meta.hostname) headers.Hostname = headerSafe(meta.hostname);
    const r = await post(this.#check, message, headers, this.opts.timeoutMs);
    if (!r.ok) return r;
    if (r.status !== 200) return { ok: false, reason: "bad_response", detail: `HTTP ${r.status}` };
    return parseCheckReply(r.body);
  }

  /** learnspam / learnham on the controller. "Already learned" counts as done. */
  async learn(kind: "spam" | "ham", message: Buffer): Promise<LearnResult> {
    const headers: Record<string, string> = {};
    if (this.opts.password) headers.Password = headerSafe(this.opts.password);
    const r = await post(new URL(`/learn${kind}`, this.#controller), message, headers, this.opts.timeoutMs);
    if (!r.ok) return r;
    if (r.status === 200) return { ok: true };
    // 208: the statistics already hold this message in this class (rspamd answers "already learned").
    if (r.status === 208 || /already learned/i.test(r.body)) return { ok: true };
    return { ok: false, reason: "bad_response", detail: `HTTP ${r.status}: ${r.body.slice(0, 200)}` };
  }
}
