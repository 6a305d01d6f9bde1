/**
 * Delivery Status Notifications (RFC 3464): a multipart/report (RFC 6522)
 * with a human-readable part, the machine-readable message/delivery-status
 * (one per-recipient block each: Original-Recipient, Final-Recipient,
 * Action, Status, Diagnostic-Code, Will-Retry-Until) and the original
 * message: its header section (text/rfc822-headers), or the whole of it
 * (message/rfc822) when the sender asked RET=FULL for a failure (RFC 3461
 * §4.3). Pure: it builds bytes; bounce.ts decides where they go and
 * dsn-request.ts whom the sender asked to hear about.
 */
import { randomBytes } from "node:crypto";

/** RFC 3464 §2.3.3 actions we report. */
export type DsnAction = "failed" | "delayed" | "delivered" | "relayed";

export interface FailedRecipient {
  recipient: string;
  /** RFC 3463 status, e.g. 5.1.1; 4.4.7 for an expired message; 2.0.0 for success. */
  status: string;
  /** The remote reply ("smtp; 550 5.1.1 …") or our reason. */
  diagnostic?: string;
  remoteMta?: string;
  /** Default "failed". */
  action?: DsnAction;
  /** The ORCPT the submitter gave, decoded ("rfc822;bob@example.org"). */
  originalRecipient?: string;
}

export type DsnKind = "rejected" | "expired" | "delayed" | "success";

export interface DsnInput {
  reportingMta: string;
  /** The bounce's To: (the original MAIL FROM). */
  to: string;
  originalMessageId: string | null;
  originalHeaders: string;
  /** The whole original message (RET=FULL on a failure); replaces the headers part. */
  originalMessage?: Buffer;
  /** The ENVID the submitter gave, decoded (RFC 3464 §2.2.1 Original-Envelope-Id). */
  envelopeId?: string | null;
  arrivalDate: Date;
  recipients: readonly FailedRecipient[];
  /** Why, for the subject and the human part. */
  kind: DsnKind;
  /** Delay notices: until when we keep trying (RFC 3464 §2.3.9). */
  willRetryUntil?: Date;
  now?: Date;
}

const ENHANCED = /\b([245]\.\d{1,3}\.\d{1,3})\b/;

/** The RFC 3463 status a reply carries, else the generic one of its class. */
export function statusOf(code: number, reply: string): string {
  const m = ENHANCED.exec(reply);
  if (m && m[1]![0] === String(code)[0]) return m[1]!;
  return code >= 500 ? "5.0.0" : "4.0.0";
}

/** RFC 3461 §4: xtext ("+XX" hex escapes) to text. */
export function decodeXtext(s: string): string {
  return s.replace(/\+([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

function date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, "+0000");
}

/** Header-safe text: one line, no control characters. */
function oneLine(s: string): string {
  return s
    .replace(/[\r\n\t]+/g, " ")
    .replace(/[^\x20-\x7e]/g, "?")
    .slice(0, 900);
}

const TEXTS: Record<DsnKind, { subject: string; human: string; description: string }> = {
  rejected: {
    subject: "Undelivered Mail Returned to Sender",
    human: "Your message could not be delivered to the recipients below: their mail servers refused it.",
    description: "Undelivered message",
  },
  expired: {
    subject: "Undelivered Mail Returned to Sender",
    human:
      "Your message could not be delivered to the recipients below within the time allowed;\r\nthe mail system has given up trying.",
    description: "Undelivered message",
  },
  delayed: {
    subject: "Delayed Mail (still being retried)",
    human:
      "Your message has not been delivered yet to the recipients below. The mail system\r\nwill keep trying; you do not need to send it again.",
    description: "Delayed message",
  },
  success: {
    subject: "Successful Mail Delivery Report",
    human:
      "Your message was accepted by the recipients' mail servers below. A server that\r\ndoes not report deliveries itself may still file or drop it later.",
    description: "Delivered message",
  },
};

export function buildDsn(d: DsnInput): { bytes: Buffer; messageId: string } {
  const now = d.now ?? new Date();
  const boundary = `=_aerogram_dsn_${randomBytes(12).toString("hex")}`;
  const messageId = `<dsn.${Date.now().toString(36)}.${randomBytes(6).toString("hex")}@${d.reportingMta}>`;
  const texts = TEXTS[d.kind];
  const list = d.recipients
    .map((r) => `  <${oneLine(r.recipient)}>${r.diagnostic ? `: ${oneLine(r.diagnostic)}` : ""}`)
    .join("\r\n");
  const perRecipient = d.recipients
    .map((r) =>
      [
        ...(r.originalRecipient ? [`Original-Recipient: ${oneLine(r.originalRecipient)}`] : []),
        `Final-Recipient: rfc822; ${oneLine(r.recipient)}`,
        `Action: ${r.action ?? "failed"}`,
        `Status: ${r.status}`,
        ...(r.remoteMta ? [`Remote-MTA: dns; ${oneLine(r.remoteMta)}`] : []),
        ...(r.diagnostic ? [`Diagnostic-Code: ${oneLine(r.diagnostic)}`] : []),
        `Last-Attempt-Date: ${date(now)}`,
        ...(d.willRetryUntil && r.action === "delayed"
          ? [`Will-Retry-Until: ${date(d.willRetryUntil)}`]
          : []),
      ].join("\r\n"),
    )
    .join("\r\n\r\n");
  const returned = d.originalMessage
    ? ["Content-Type: message/rfc822", `Content-Description: ${texts.description}`, "", ""]
    : [
        "Content-Type: text/rfc822-headers",
        `Content-Description: ${texts.description} headers`,
        "",
        d.originalHeaders.replace(/\r?\n/g, "\r\n").replace(/(\r\n)+$/, ""),
        "",
      ];
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${d.reportingMta}>`,
    `To: <${oneLine(d.to)}>`,
    `Subject: ${texts.subject}`,
    `Date: ${date(now)}`,
    `Message-ID: ${messageId}`,
    ...(d.originalMessageId
      ? [`In-Reply-To: ${oneLine(d.originalMessageId)}`, `References: ${oneLine(d.originalMessageId)}`]
      : []),
    // RFC 3834 §5: an automatic response, never to be answered automatically.
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    "",
    "This is a MIME-encapsulated delivery status notification.",
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=us-ascii",
    "Content-Description: Notification",
    "",
    texts.human,
    "",
    list,
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "Content-Description: Delivery report",
    "",
    ...(d.envelopeId ? [`Original-Envelope-Id: ${oneLine(d.envelopeId)}`] : []),
    `Reporting-MTA: dns; ${d.reportingMta}`,
    `Arrival-Date: ${date(d.arrivalDate)}`,
    "",
    perRecipient,
    "",
    `--${boundary}`,
    ...returned,
  ].join("\r\n");
  // The delimiter's leading CRLF belongs to it (RFC 2046 §5.1.1), after the message or the blank line.
  const parts: Buffer[] = [Buffer.from(head, "utf8")];
  if (d.originalMessage) parts.push(d.originalMessage);
  parts.push(Buffer.from(`\r\n--${boundary}--\r\n`, "utf8"));
  return { bytes: Buffer.concat(parts), messageId };
}
