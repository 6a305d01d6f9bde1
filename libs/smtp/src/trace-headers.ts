/**
 * The Received: trace header (RFC 5321 §4.4, syntax "Time-stamp-line"): where
 * the message came from, who took it, over what protocol, under which id.
 */

export interface TraceInput {
  /** HELO/EHLO argument as the client gave it. */
  helo: string;
  /** Reverse DNS name of the client, or its [ip] literal. */
  clientHostname: string;
  ip: string;
  /** Our host name. */
  hostname: string;
  /** RFC 3848 protocol type: ESMTP, ESMTPS, SMTP, UTF8SMTPS, … */
  protocol: string;
  /** Session and transaction id, to find the delivery in our logs. */
  id: string;
  /** The recipient, only when there is exactly one (a "for" clause must not disclose Bcc lists). */
  recipient?: string;
  date?: Date;
}

/** RFC 5322 §3.3 date-time in UTC, e.g. "Thu, 26 Nov 2026 00:21:00 +0000". */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, "+0000");
}

/** Keeps client-chosen strings from breaking the header (no CR/LF, no parentheses games). */
function clean(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, "").replace(/[()]/g, "") || "unknown";
}

export function receivedHeader(t: TraceInput): string {
  const ip = t.ip.includes(":") ? `IPv6:${t.ip}` : t.ip;
  const rdns = t.clientHostname && !t.clientHostname.startsWith("[") ? `${clean(t.clientHostname)} ` : "";
  const forClause = t.recipient ? `\r\n\tfor <${clean(t.recipient)}>` : "";
  return (
    `Received: from ${clean(t.helo)} (${rdns}[${clean(ip)}])\r\n` +
    `\tby ${clean(t.hostname)} (Aerogram) with ${clean(t.protocol)} id ${clean(t.id)}${forClause};\r\n` +
    `\t${rfc5322Date(t.date ?? new Date())}\r\n`
  );
}
