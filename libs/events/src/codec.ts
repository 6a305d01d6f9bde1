/**
 * Wire format of a MailboxEvent: compact JSON. Everything that crosses the bus
 * is checked on the way in and out, so a buggy or foreign publisher on the same
 * subject can never hand a session a malformed event.
 */
import type { MailboxEvent, MailboxEventKind } from "./types.ts";

const KINDS: ReadonlySet<string> = new Set<MailboxEventKind>([
  "exists",
  "expunge",
  "flags",
  "mailbox-created",
  "mailbox-renamed",
  "mailbox-deleted",
  "mailbox-subscribed",
  "sessions-revoked",
]);

/** Database ids and IMAP UIDs: non-negative safe integers. */
export function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** subscribe() with a bad account id is a programming error, so it throws (publish() never does). */
export function assertAccount(account: number): void {
  if (!isId(account))
    throw new TypeError(`account must be a non-negative integer id, got ${String(account)}`);
}

/**
 * A clean copy holding only the MailboxEvent fields, or undefined when `value`
 * is not a valid event. Unknown fields are dropped so handlers see exactly the
 * documented shape.
 */
export function toMailboxEvent(value: unknown): MailboxEvent | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!isId(v.account) || !isId(v.mailbox)) return undefined;
  if (typeof v.kind !== "string" || !KINDS.has(v.kind)) return undefined;
  // HIGHESTMODSEQ is a bigint in Postgres, so it travels as a decimal string.
  if (typeof v.modseq !== "string" || !/^\d{1,20}$/.test(v.modseq)) return undefined;
  const event: MailboxEvent = {
    account: v.account,
    mailbox: v.mailbox,
    kind: v.kind as MailboxEventKind,
    modseq: v.modseq,
  };
  if (v.uids !== undefined) {
    if (!Array.isArray(v.uids) || !v.uids.every(isId)) return undefined;
    event.uids = [...v.uids];
  }
  if (v.name !== undefined) {
    if (typeof v.name !== "string") return undefined;
    event.name = v.name;
  }
  return event;
}

export function encodeEvent(event: MailboxEvent): string {
  return JSON.stringify(event);
}

/** The event in a payload, or undefined for anything that is not one (bad UTF-8, JSON or shape). */
export function decodeEvent(payload: Uint8Array): MailboxEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    return undefined;
  }
  return toMailboxEvent(parsed);
}
