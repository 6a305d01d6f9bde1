/**
 * Mailbox-change events. They are wake-up beacons, not the truth: a session that
 * gets one reads what changed from Postgres (by MODSEQ), so a lost or duplicated
 * event never makes a session wrong. Keep them small.
 */
export type MailboxEventKind =
  | "exists" // new messages (uids: the new UIDs, when known)
  | "expunge" // messages removed (uids: the expunged UIDs)
  | "flags" // flags/keywords changed (uids: the changed UIDs)
  | "mailbox-created"
  | "mailbox-renamed"
  | "mailbox-deleted"
  | "mailbox-subscribed"
  // The account's credentials changed (app password revoked, password changed,
  // account disabled): every live session of the account ends (mailbox 0).
  | "sessions-revoked";

export interface MailboxEvent {
  /** Account id (accounts.id). Events are routed per account. */
  account: number;
  /** Mailbox id (mailboxes.id). */
  mailbox: number;
  kind: MailboxEventKind;
  /** The mailbox's HIGHESTMODSEQ after the change (as a decimal string: it is a bigint). */
  modseq: string;
  /** Affected UIDs, when few enough to be worth sending; absent means "look it up". */
  uids?: number[];
  /** Mailbox name, for mailbox-* events. */
  name?: string;
}

export type EventHandler = (event: MailboxEvent) => void;

export interface Subscription {
  unsubscribe(): void;
}

export type BusState = "connected" | "disconnected";

export interface EventBus {
  /** Fire and forget: never throws and never blocks delivery on an outage. */
  publish(event: MailboxEvent): void;
  /** Events of one account. Cheap to call many times; the bus shares one upstream subscription per account. */
  subscribe(account: number, handler: EventHandler): Subscription;
  /** Current connectivity; sessions poll Postgres while "disconnected". */
  readonly state: BusState;
  /** Called on every state change (e.g. to switch sessions to polling). */
  onStateChange(listener: (state: BusState) => void): Subscription;
  /** Liveness probe for /readyz: resolves when the bus round-trips. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
