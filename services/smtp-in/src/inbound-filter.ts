/**
 * The end-of-DATA verdict: rspamd's scan (when RSPAMD_URL is set) and the
 * DMARC policy (when DMARC_ENFORCE is on), turned into reject / tempfail /
 * deliver (to Junk or not) by libs/spam's policy, plus the X-Spam-* headers.
 * Errors are values: rspamd down, slow or talking nonsense is a verdict
 * ("unscanned"), never a throw.
 */
import type { Readable } from "node:stream";
import type { SpooledMessage } from "@aerogram/smtp";
import {
  type CheckResult,
  dmarcDecision,
  type FilterDecision,
  type RspamdClient,
  spamDecision,
  spamHeaders,
  strictest,
  type UnavailableMode,
} from "@aerogram/spam";
import type { AuthVerdicts } from "./auth-results.ts";

export interface InboundFilterOptions {
  /** Undefined: no scanning. */
  rspamd: RspamdClient | undefined;
  unavailable: UnavailableMode;
  maxScanBytes: number;
  dmarcEnforce: boolean;
  /** [0, 100) for the DMARC pct sample; default Math.random() * 100. */
  sample?: () => number;
}

export interface FilterVerdict {
  decision: FilterDecision;
  /** The DMARC part alone (for metrics). */
  dmarc: FilterDecision;
  check: CheckResult | undefined;
  /** X-Spam-* lines to prepend (CRLF-terminated), "" when not scanned. */
  headers: string;
  /** Why the message was not scanned though scanning is on (too large), if so. */
  skipped: string | undefined;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function judgeMessage(
  opts: InboundFilterOptions,
  message: SpooledMessage,
  prepended: string,
  meta: {
    ip: string;
    helo: string;
    sender: string;
    recipients: readonly string[];
    queueId: string;
    hostname: string;
  },
  auth: AuthVerdicts,
): Promise<FilterVerdict> {
  let check: CheckResult | undefined;
  let skipped: string | undefined;
  if (opts.rspamd) {
    if (message.size > opts.maxScanBytes) skipped = "too_large";
    else {
      // rspamd sees our Received and Authentication-Results too, as a milter-fed rspamd would.
      const body = Buffer.concat([Buffer.from(prepended, "utf8"), await readAll(message.open())]);
      check = await opts.rspamd.check(body, {
        ip: meta.ip,
        helo: meta.helo,
        from: meta.sender,
        rcpt: meta.recipients,
        queueId: meta.queueId,
      });
    }
  }
  const spam = spamDecision(check, opts.unavailable);
  const dmarc = opts.dmarcEnforce
    ? dmarcDecision(
        auth.dmarcPolicy && { result: auth.dmarc, ...auth.dmarcPolicy },
        (opts.sample ?? (() => Math.random() * 100))(),
      )
    : ({ kind: "deliver", junk: false, reason: "dmarc_off" } as const);
  let headers = spamHeaders(check, meta.hostname);
  if (skipped) headers = `X-Spam-Status: Unknown, unscanned (${skipped}) by ${meta.hostname}\r\n`;
  return { decision: strictest(spam, dmarc), dmarc, check, headers, skipped };
}
