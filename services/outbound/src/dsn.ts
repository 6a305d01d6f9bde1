/**
 * Delivery Status Notifications (RFC 3464): a multipart/report (RFC 6522)
 * with a human-readable part, the machine-readable message/delivery-status
 * (one per-recipient block each: Final-Recipient, Action, Status,
 * Diagnostic-Code) and the original message's header section
 * (text/rfc822-headers: enough to recognise it, without resending its body).
 * Pure: it builds bytes; bounce.ts decides where they go.
 */
import { randomBytes } from "node:crypto";

export interface FailedRecipient {
  recipient: string;
  /** RFC 3463 status, e.g. 5.1.1; 4.4.7 for an expired message. */
  status: string;
  /** The remote reply ("smtp; 550 5.1.1 …") or our reason. */
  diagnostic: string;
  remoteMta?: string;
}

export interface DsnInput {
  reportingMta: string;
  /** The bounce's To: (the original MAIL FROM). */
  to: string;
  originalMessageId: string | null;
  originalHeaders: string;
  arrivalDate: Date;
  recipients: readonly FailedRecipient[];
  /** Why, in one line, for the human part: "rejected" or "expired". */
  kind: "rejected" | "expired";
  now?: Date;
}

const ENHANCED = /\b([245]\.\d{1,3}\.\d{1,3})\b/;

/** The RFC 3463 status a reply carries, else the generic one of its class. */
export function statusOf(code: number, reply: string): string {
  const m = ENHANCED.exec(reply);
  if (m && m[1]![0] === String(code)[0]) return m[1]!;
  return code >= 500 ? "5.0.0" : "4.0.0";
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

export function buildDsn(d: DsnInput): { bytes: Buffer; messageId: string } {
  const now = d.now ?? new Date();
  const boundary = `=_aerogram_dsn_${randomBytes(12).toString("hex")}`;
  const messageId = `<dsn.${Date.now().toString(36)}.${randomBytes(6).toString("hex")}@${d.reportingMta}>`;
  const human =
    d.kind === "expired"
      ? "Your message could not be delivered to the recipients below within the time allowed;\r\nthe mail system has given up trying."
      : "Your message could not be delivered to the recipients below: their mail servers refused it.";
  const list = d.recipients.map((r) => `  <${oneLine(r.recipient)}>: ${oneLine(r.diagnostic)}`).join("\r\n");
  const perRecipient = d.recipients
    .map((r) =>
      [
        `Final-Recipient: rfc822; ${oneLine(r.recipient)}`,
        "Action: failed",
        `Status: ${r.status}`,
        ...(r.remoteMta ? [`Remote-MTA: dns; ${oneLine(r.remoteMta)}`] : []),
        `Diagnostic-Code: ${oneLine(r.diagnostic)}`,
        `Last-Attempt-Date: ${date(now)}`,
      ].join("\r\n"),
    )
    .join("\r\n\r\n");
  const headers = d.originalHeaders.replace(/\r?\n/g, "\r\n").replace(/(\r\n)+$/, "");
  const text = [
    `From: Mail Delivery System <MAILER-DAEMON@${d.reportingMta}>`,
    `To: <${oneLine(d.to)}>`,
    "Subject: Undelivered Mail Returned to Sender",
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
    human,
    "",
    list,
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "Content-Description: Delivery report",
    "",
    `Reporting-MTA: dns; ${d.reportingMta}`,
    `Arrival-Date: ${date(d.arrivalDate)}`,
    "",
    perRecipient,
    "",
    `--${boundary}`,
    "Content-Type: text/rfc822-headers",
    "Content-Description: Undelivered message headers",
    "",
    headers,
    "",
    `--${boundary}--`,
    "",
  ].join("\r\n");
  return { bytes: Buffer.from(text, "utf8"), messageId };
}
