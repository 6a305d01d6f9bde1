// Decoded header fields for SEARCH FROM/TO/CC/BCC/SUBJECT/SENTBEFORE...
// (RFC 3501 §6.4.4 matches on decoded text; RFC 2047 words are decoded and
// 8-bit headers taken as UTF-8, RFC 6532).
import type { Address } from "./address.ts";
import { byteStringToText } from "./charset.ts";
import { decodeEncodedWords } from "./encoded-word.ts";
import type { Envelope } from "./serializer.ts";
import type { SearchFields } from "./types.ts";

function oneLine(s: string): string {
  return s.replace(/\r?\n/g, "");
}

/** Decoded address list: "Name <mailbox@host>", groups as "Group: members;". */
export function formatAddresses(list: Address[] | null): string {
  if (list === null) return "";
  const out: string[] = [];
  let inGroup = false;
  let group: string[] = [];
  let groupName = "";
  for (const a of list) {
    if (a.host === null) {
      if (a.mailbox !== null) {
        inGroup = true;
        groupName = decodeEncodedWords(a.mailbox);
        group = [];
      } else if (inGroup) {
        out.push(`${groupName}: ${group.join(", ")};`);
        inGroup = false;
      }
      continue;
    }
    const addr = `${byteStringToText(a.mailbox ?? "")}@${byteStringToText(a.host)}`;
    const name = a.name === null ? "" : decodeEncodedWords(a.name).trim();
    const s = name === "" ? addr : `${name} <${addr}>`;
    if (inGroup) group.push(s);
    else out.push(s);
  }
  if (inGroup) out.push(`${groupName}: ${group.join(", ")};`);
  return out.join(", ");
}

/** RFC 5322 §3.3 date (with obsolete forms and comments) to ISO 8601, or null. */
export function parseDate(value: string | null): string | null {
  if (value === null) return null;
  const v = oneLine(value)
    .replace(/\([^)]*\)/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  // Date.parse understands RFC 2822 forms incl. obsolete zone names
  const m =
    /^(?:[A-Za-z]{3},?\s*)?(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(.*)$/.exec(
      v,
    );
  let t = Number.NaN;
  if (m !== null) {
    let year = Number(m[3]);
    if (m[3]!.length === 2)
      year += year < 50 ? 2000 : 1900; // RFC 5322 §4.3
    else if (m[3]!.length === 3) year += 1900;
    const zone = m[7]!.trim() === "" ? "+0000" : m[7]!.trim();
    t = Date.parse(`${m[1]} ${m[2]} ${year} ${m[4]}:${m[5]}:${m[6] ?? "00"} ${zone}`);
    if (Number.isNaN(t)) t = Date.parse(`${m[1]} ${m[2]} ${year} ${m[4]}:${m[5]}:${m[6] ?? "00"} +0000`);
  } else {
    t = Date.parse(v);
  }
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function trimmed(value: string | null): string | null {
  return value === null ? null : byteStringToText(oneLine(value)).trim();
}

export function buildSearchFields(env: Envelope): SearchFields {
  return {
    from: formatAddresses(env.from),
    to: formatAddresses(env.to),
    cc: formatAddresses(env.cc),
    bcc: formatAddresses(env.bcc),
    subject: env.subject === null ? "" : decodeEncodedWords(env.subject).replace(/\s+/g, " ").trim(),
    date: trimmed(env.date),
    sentAt: parseDate(env.date),
    messageId: trimmed(env.messageId),
    inReplyTo: trimmed(env.inReplyTo),
  };
}
