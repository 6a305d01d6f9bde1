/**
 * SPF, DKIM and DMARC verdicts for a received message (mailauth), recorded in
 * Authentication-Results (RFC 8601) and Received-SPF (RFC 7208 §9.1) headers.
 * Verdicts are recorded here, never enforced (DMARC policy enforcement is
 * libs/spam's policy.ts, applied by deliver-message.ts), and never block
 * delivery: the whole check is time-boxed, and when it runs out of time or
 * fails every method is recorded as temperror. ARC (RFC 8617) is verified and
 * its verdict recorded (arc=); we don't seal.
 */
import type { Readable } from "node:stream";
import { TtlCache } from "@aerogram/limits";
import { authenticate } from "mailauth";
import type { DnsLookup } from "./dns-resolver.ts";

export interface AuthInput {
  /** The client's IP address. */
  ip: string;
  /** HELO/EHLO name. */
  helo: string;
  /** MAIL FROM ("" for the null reverse-path). */
  sender: string;
  /** Our host name: the authserv-id. */
  hostname: string;
}

export interface AuthVerdicts {
  spf: string;
  dkim: string;
  dmarc: string;
  /** ARC chain validation (RFC 8617 §5.2): none, pass, fail, temperror. */
  arc: string;
  /** The DMARC policy that applies to the From: domain (RFC 7489 §6.3), when a record was found. */
  dmarcPolicy: { policy: string | undefined; pct: number | undefined } | undefined;
  /** Header lines to prepend, CRLF-terminated. */
  headers: string;
}

export interface AuthCheckOptions {
  resolver: DnsLookup;
  /** Upper bound for the whole check (ms). */
  timeBoxMs: number;
  /** Verdicts of unsigned messages, reused per (client, envelope, From:); see AuthVerdictCache. */
  cache?: AuthVerdictCache;
}

/**
 * The verdicts of an unsigned message (no DKIM-Signature, no ARC set) depend
 * only on the client IP, the HELO name, MAIL FROM, our host name, the From:
 * header field(s) and DNS: SPF reads the first three (RFC 7208 §4.1), DKIM
 * finds no signature, ARC no set, DMARC reads From:'s domain and SPF's
 * result (RFC 7489 §3.1, §6.6). So a sender delivering many messages from
 * the same client with the same envelope and From: gets the same
 * Authentication-Results and Received-SPF each time; this keeps them per
 * process for `ttlMs` (far below the DNS cache's 5 minutes, so a changed
 * record is seen as soon as it would be without it). The first check of a
 * key is shared by the messages that arrive while it runs. Only complete
 * verdicts are kept: a temperror (timeout, DNS failure) is checked again.
 */
export class AuthVerdictCache {
  readonly #entries: TtlCache<string, Promise<AuthVerdicts>>;
  /** Checks answered from the cache (or joined while running), and checks run. */
  readonly stats = { hits: 0, misses: 0 };
  constructor(opts: { ttlMs: number; maxEntries?: number }) {
    this.#entries = new TtlCache({ ttlMs: opts.ttlMs, maxEntries: opts.maxEntries ?? 10_000 });
  }
  /** The cached (or running) verdicts for `key`, else runs `check` and keeps what it answers unless a temperror. */
  get(key: string, check: () => Promise<AuthVerdicts>): Promise<AuthVerdicts> {
    const hit = this.#entries.get(key);
    if (hit) {
      this.stats.hits++;
      return hit;
    }
    this.stats.misses++;
    const p = check();
    this.#entries.set(key, p);
    p.then(
      (v) => {
        if (
          v.spf === "temperror" ||
          v.dkim === "temperror" ||
          v.dmarc === "temperror" ||
          v.arc === "temperror"
        )
          this.#entries.delete(key);
      },
      () => this.#entries.delete(key),
    );
    return p;
  }
}

/** RFC 8601 §2.2 authserv-id / value: keep header injection out of what a client chose. */
function token(s: string): string {
  return s.replace(/[^\w.@+:[\]-]/g, "") || "unknown";
}

function temperror(input: AuthInput, why: string): AuthVerdicts {
  const from = input.sender ? ` smtp.mailfrom=${token(input.sender)}` : "";
  return {
    spf: "temperror",
    dkim: "temperror",
    dmarc: "temperror",
    arc: "temperror",
    dmarcPolicy: undefined,
    headers:
      `Authentication-Results: ${token(input.hostname)};\r\n` +
      ` spf=temperror (${why})${from};\r\n dkim=temperror (${why});\r\n dmarc=temperror (${why})\r\n`,
  };
}

/** A DKIM-Signature or ARC-* header field (RFC 6376 §3.5, RFC 8617 §4.1): the only ones that need the body. */
const SIGNED = /(?:^|\n)(?:dkim-signature|arc-seal|arc-message-signature|arc-authentication-results)[ \t]*:/i;

/**
 * What mailauth needs to see of a message held in memory: the whole message
 * when its header carries a DKIM or ARC signature (the body hash), otherwise
 * only the header block and the empty line. Without a signature there is no
 * body to verify, SPF and DMARC read only the envelope and From:, so the
 * verdicts are the same and the body is not run through mailauth's parser.
 */
export function authInput(message: Buffer): Buffer {
  let end = message.indexOf("\r\n\r\n");
  let sep = 4;
  const lf = message.indexOf("\n\n");
  if (lf !== -1 && (end === -1 || lf < end)) {
    end = lf;
    sep = 2;
  }
  // No empty line: all header (or malformed); mailauth gets it as it is.
  if (end === -1) return message;
  const header = message.subarray(0, end + sep);
  return SIGNED.test(header.toString("latin1")) ? message : header;
}

/** Every From: field of a header block, unfolded as written (RFC 5322 §3.6.2; more than one is kept apart). */
function fromFields(header: string): string {
  const out: string[] = [];
  const re = /(?:^|\n)from[ \t]*:((?:[^\n]*)(?:\n[ \t][^\n]*)*)/gi;
  for (let m = re.exec(header); m !== null; m = re.exec(header)) out.push(m[1]!);
  return out.join("\0");
}

/**
 * The cache key of an unsigned message's verdicts (undefined: not cacheable:
 * a signed message, a whole message without a header/body boundary, or the
 * null reverse-path, for which mailauth falls back to the Return-Path field).
 */
function verdictKey(input: AuthInput, checked: Buffer, whole: Buffer): string | undefined {
  if (checked === whole || input.sender === "") return undefined;
  return JSON.stringify([
    input.ip,
    input.helo,
    input.sender,
    input.hostname,
    fromFields(checked.toString("latin1")),
  ]);
}

export async function checkAuthentication(
  message: Readable | Buffer,
  input: AuthInput,
  opts: AuthCheckOptions,
): Promise<AuthVerdicts> {
  if (opts.cache && Buffer.isBuffer(message)) {
    const checked = authInput(message);
    const key = verdictKey(input, checked, message);
    if (key !== undefined) return opts.cache.get(key, () => runCheck(checked, input, opts));
  }
  return runCheck(message, input, opts);
}

async function runCheck(
  message: Readable | Buffer,
  input: AuthInput,
  opts: AuthCheckOptions,
): Promise<AuthVerdicts> {
  let timer: NodeJS.Timeout | undefined;
  const timeBox = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), opts.timeBoxMs);
  });
  const check = authenticate(Buffer.isBuffer(message) ? authInput(message) : message, {
    ip: input.ip,
    helo: input.helo,
    sender: input.sender,
    mta: input.hostname,
    resolver: opts.resolver as never,
    disableArc: false,
    disableBimi: true,
  }).catch((err: Error) => err);
  try {
    const r = await Promise.race([check, timeBox]);
    if (r === "timeout") {
      if (!Buffer.isBuffer(message)) message.destroy();
      return temperror(input, "checks timed out");
    }
    if (r instanceof Error) return temperror(input, "check failed");
    const dkimResults = r.dkim?.results ?? [];
    const dkim = dkimResults.some((x) => x.status?.result === "pass")
      ? "pass"
      : (dkimResults[0]?.status?.result ?? "none");
    const dmarc = r.dmarc as { policy?: string; pct?: number; status?: { result?: string } } | false;
    const arc = r.arc as { status?: { result?: string } } | false;
    return {
      spf: r.spf ? String(r.spf.status?.result ?? "none") : "none",
      dkim: String(dkim),
      dmarc: dmarc ? String(dmarc.status?.result ?? "none") : "none",
      arc: arc ? String(arc.status?.result ?? "none") : "none",
      dmarcPolicy:
        dmarc && typeof dmarc.policy === "string"
          ? { policy: dmarc.policy, pct: typeof dmarc.pct === "number" ? dmarc.pct : undefined }
          : undefined,
      headers: r.headers.endsWith("\r\n") ? r.headers : `${r.headers}\r\n`,
    };
  } finally {
    clearTimeout(timer);
  }
}
