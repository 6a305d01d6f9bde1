/**
 * What the submitter asked to be told (RFC 3461), from a queue entry's
 * DSN columns: per recipient NOTIFY (NEVER, or any of SUCCESS, FAILURE,
 * DELAY) and ORCPT, per message RET and ENVID. Without NOTIFY we behave as
 * NOTIFY=FAILURE,DELAY (§4.1 allows either that or FAILURE; delay notices
 * are still off when OUTBOUND_DELAY_NOTICE_AFTER is 0).
 *
 * Relaying (§4.2, §5.2.2): the parameters go on to a next hop that offers
 * DSN, which then owns the notices it can give. nodemailer's client sends
 * one NOTIFY and one ORCPT for a whole transaction, so NOTIFY is passed
 * only when every recipient of the entry asked the same, and ORCPT only for
 * a one-recipient entry; otherwise the next hop gets no NOTIFY and we send
 * the success notices ourselves (action "relayed").
 */
import type { OutboundEntry } from "@aerogram/store";
import { decodeXtext } from "./dsn.ts";

export type NotifyWhat = "SUCCESS" | "FAILURE" | "DELAY";

/** Whether the submitter wants `what` reported for `recipient`. */
export function wants(entry: OutboundEntry, recipient: string, what: NotifyWhat): boolean {
  const notify = entry.recipientDsn[recipient.toLowerCase()]?.notify;
  if (!notify || notify.length === 0) return what !== "SUCCESS";
  return notify.includes(what);
}

/** ORCPT decoded, for Original-Recipient (RFC 3464 §2.3.1). */
export function originalRecipient(entry: OutboundEntry, recipient: string): string | undefined {
  const orcpt = entry.recipientDsn[recipient.toLowerCase()]?.orcpt;
  return orcpt ? decodeXtext(orcpt) : undefined;
}

export function envelopeId(entry: OutboundEntry): string | null {
  return entry.dsnEnvid ? decodeXtext(entry.dsnEnvid) : null;
}

/** nodemailer's envelope.dsn (decoded values: it xtext-encodes them itself). */
export interface RelayDsn {
  ret?: "FULL" | "HDRS";
  envid?: string;
  notify?: string;
  orcpt?: string;
}

/** The DSN parameters to pass to the next hop, and whether NOTIFY went with them. */
export function relayDsn(
  entry: OutboundEntry,
  recipients: readonly string[],
): { dsn: RelayDsn | undefined; notifyPassed: boolean } {
  const notifies = recipients.map((r) => entry.recipientDsn[r.toLowerCase()]?.notify?.join(",") ?? "");
  const uniform = notifies.length > 0 && notifies.every((n) => n === notifies[0]);
  const dsn: RelayDsn = {};
  if (entry.dsnRet) dsn.ret = entry.dsnRet;
  const envid = envelopeId(entry);
  if (envid) dsn.envid = envid;
  const notifyPassed = uniform && notifies[0] !== "";
  if (notifyPassed) dsn.notify = notifies[0]!;
  if (recipients.length === 1) {
    const orcpt = originalRecipient(entry, recipients[0]!);
    if (orcpt) dsn.orcpt = orcpt;
  }
  return { dsn: Object.keys(dsn).length > 0 ? dsn : undefined, notifyPassed };
}
