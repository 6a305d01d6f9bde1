/**
 * What SMTP-in does with a message at the end of DATA, from rspamd's verdict
 * and the DMARC result (RFC 7489). Pure functions: the caller has the I/O.
 *
 *   spam:  reject → 550 5.7.1; soft reject / greylist → 451 4.7.1;
 *          add header / rewrite subject → deliver to Junk; no action → deliver.
 *          rspamd unavailable → deliver with "unscanned" headers, or 451 4.3.0
 *          when the operator chose tempfail.
 *   DMARC: fail with p=reject → 550 5.7.1, p=quarantine → Junk, p=none → nothing;
 *          pct (RFC 7489 §6.6.4): outside the sampled share the policy is
 *          applied one step softer (reject → quarantine, quarantine → none).
 *
 * The strictest of the two wins (reject > tempfail > junk > deliver).
 */
import type { CheckResult, SpamVerdict } from "./rspamd.ts";

export type FilterDecision =
  | { kind: "reject"; code: 550; enhanced: "5.7.1"; text: string; reason: string }
  | { kind: "tempfail"; code: 451; enhanced: "4.7.1" | "4.3.0"; text: string; reason: string }
  | { kind: "deliver"; junk: boolean; reason: string };

export type UnavailableMode = "deliver" | "tempfail";

/** The RFC 7489 policy fields mailauth reports for a failing message. */
export interface DmarcOutcome {
  /** pass, fail, none, temperror, permerror. */
  result: string;
  /** The policy that applies (sp= for a subdomain), lower case: none, quarantine, reject. */
  policy: string | undefined;
  /** pct=, 0-100; undefined = 100. */
  pct: number | undefined;
}

export function spamDecision(check: CheckResult | undefined, unavailable: UnavailableMode): FilterDecision {
  if (!check) return { kind: "deliver", junk: false, reason: "not_scanned" };
  if (!check.ok) {
    return unavailable === "tempfail"
      ? {
          kind: "tempfail",
          code: 451,
          enhanced: "4.3.0",
          text: "Content scanner unavailable, try again later",
          reason: `rspamd_${check.reason}`,
        }
      : { kind: "deliver", junk: false, reason: `rspamd_${check.reason}` };
  }
  const v = check.verdict;
  switch (v.action) {
    case "reject":
      return { kind: "reject", code: 550, enhanced: "5.7.1", text: rejectText(v), reason: "spam_reject" };
    case "soft reject":
    case "greylist":
      return {
        kind: "tempfail",
        code: 451,
        enhanced: "4.7.1",
        text: "Try again later",
        reason: v.action === "greylist" ? "spam_greylist" : "spam_soft_reject",
      };
    case "add header":
    case "rewrite subject":
      return { kind: "deliver", junk: true, reason: "spam_junk" };
    default:
      return { kind: "deliver", junk: false, reason: "spam_clean" };
  }
}

/** rspamd's own text when it is plain ASCII, ours otherwise (it goes on an SMTP reply line). */
function rejectText(v: SpamVerdict): string {
  const own = v.smtpMessage && /^[\x20-\x7e]{1,200}$/.test(v.smtpMessage) ? v.smtpMessage : undefined;
  return `Message rejected as spam${own ? ` (${own})` : ""}`;
}

/**
 * `sample` is a number in [0, 100): the message is in the policy's pct share
 * when sample < pct (the caller passes Math.random() * 100; tests pass fixed values).
 */
export function dmarcDecision(d: DmarcOutcome | undefined, sample: number): FilterDecision {
  if (d?.result !== "fail") return { kind: "deliver", junk: false, reason: "dmarc_ok" };
  let policy = (d.policy ?? "none").toLowerCase();
  const pct = d.pct ?? 100;
  if (!(sample < pct)) policy = policy === "reject" ? "quarantine" : "none";
  if (policy === "reject") {
    return {
      kind: "reject",
      code: 550,
      enhanced: "5.7.1",
      text: "Message rejected by the sender domain's DMARC policy",
      reason: "dmarc_reject",
    };
  }
  if (policy === "quarantine") return { kind: "deliver", junk: true, reason: "dmarc_quarantine" };
  return { kind: "deliver", junk: false, reason: "dmarc_none" };
}

const RANK = { reject: 3, tempfail: 2, junk: 1, deliver: 0 } as const;
function rank(d: FilterDecision): number {
  return d.kind === "deliver" ? (d.junk ? RANK.junk : RANK.deliver) : RANK[d.kind];
}

/** The strictest decision (ties: the first). */
export function strictest(...ds: FilterDecision[]): FilterDecision {
  let best = ds[0]!;
  for (const d of ds.slice(1)) if (rank(d) > rank(best)) best = d;
  return best;
}

/** X-Spam-* headers (CRLF-terminated lines) for a scanned or unscanned message. */
export function spamHeaders(check: CheckResult | undefined, hostname: string): string {
  if (!check) return "";
  if (!check.ok) return `X-Spam-Status: Unknown, unscanned (scanner ${check.reason}) by ${hostname}\r\n`;
  const v = check.verdict;
  const spam = v.action !== "no action";
  const symbols = foldList(v.symbols.filter((s) => /^[A-Za-z0-9_]+$/.test(s)).sort());
  return (
    `X-Spam-Flag: ${spam ? "YES" : "NO"}\r\n` +
    `X-Spam-Score: ${v.score.toFixed(2)}\r\n` +
    `X-Spam-Action: ${v.action}\r\n` +
    `X-Spam-Status: ${spam ? "Yes" : "No"}, score=${v.score.toFixed(2)} required=${v.requiredScore.toFixed(2)}` +
    (symbols ? `\r\n tests=${symbols}` : "") +
    "\r\n"
  );
}

/** A comma list folded into continuation lines (RFC 5322 §2.1.1: lines of at most 78 characters where possible). */
function foldList(items: string[]): string {
  const lines: string[] = [];
  let line = "";
  for (const item of items) {
    if (line && line.length + item.length + 1 > 70) {
      lines.push(`${line},`);
      line = item;
    } else line = line ? `${line},${item}` : item;
  }
  if (line) lines.push(line);
  return lines.join("\r\n ");
}
