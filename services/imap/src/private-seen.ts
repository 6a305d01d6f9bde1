/**
 * Per-user \Seen on shared mailboxes (issue 24), the one place the IMAP side
 * knows of it. The store keeps it (libs/store acl/private-seen.ts): the owner
 * has the message's real \Seen; every other reader of a mailbox not set to
 * `seen_shared` has its own. A view whose reader has its own \Seen holds that
 * reader's flags (its flag bits carry the reader's \Seen), and every path that
 * reads or writes flags from the database passes through one function here:
 *
 *   SELECT            loadPrivateSeen     the reader's \Seen into the fresh view
 *   sync, QRESYNC     readerChanges       the reader's \Seen changes merged in
 *   FETCH (a read)    readerRows          the reader's \Seen and MODSEQ on the rows
 *   STORE, FETCH \Seen updateFlagsAsReader the write, answered as the reader sees it
 *   SEARCH/SORT/THREAD readerCriteria     SEEN/UNSEEN/NEW against the reader's set
 *   STATUS, LIST-STATUS readerStatus      UNSEEN counted for the reader
 *   \Recent claims     claimsRecent        never by a grantee in a user's mailbox
 *   APPEND (shared)    appendSeenAsReader  \Seen on an appended message is the appender's
 *   COPY/MOVE          copySeenAsReader    the copies carry the copier's \Seen
 *
 * Own mailboxes never reach the store from here (no query, no cost).
 * Sessions on another account's mailbox never hibernate (session.ts), so
 * hibernate.ts needs nothing. A change of the mailbox's mode applies to a
 * session at its next SELECT.
 */
import type { StatusItem } from "@aerogram/imap-protocol";
import type {
  FlagUpdate,
  FlagUpdateResult,
  Mailbox,
  MailboxChanges,
  MailboxStatusCounts,
  MessageChange,
  MessageCriterion,
} from "@aerogram/store";
import { SHARED } from "./namespaces.ts";
import type { SelectedMailbox } from "./selected-mailbox.ts";
import type { Session } from "./session.ts";

const SEEN = 1;

/** Views whose reader has its own \Seen → the reader's account id. */
const readers = new WeakMap<SelectedMailbox, number>();
/** Views of another user's mailbox: their sessions never claim \Recent. */
const guests = new WeakSet<SelectedMailbox>();

/**
 * Whether the session may claim \Recent in its selected mailbox (RFC 3501
 * §2.3.2: one session sees a message as recent). Not a grantee in another
 * user's mailbox: \Recent there is the owner's ("new since the owner last
 * looked"), which a grantee's SELECT would otherwise take; the grantee sees
 * nothing as recent. In a Shared/ folder, owned by no user, every reader is
 * equal and the first session claims, as before (and as Dovecot does).
 */
export function claimsRecent(view: SelectedMailbox): boolean {
  return !guests.has(view);
}

/** Whether the session reads `mailbox` as a grantee in another user's mailbox (claimsRecent's rule, before a view exists). */
export function readsAsGuest(session: Session, mailbox: Mailbox): boolean {
  const account = session.account?.id;
  return account !== undefined && mailbox.accountId !== account && !mailbox.name.startsWith(`${SHARED}/`);
}

/** SELECT/EXAMINE, after the view took the messages' flags: the reader's \Seen replaces theirs. */
export async function loadPrivateSeen(
  session: Session,
  view: SelectedMailbox,
  mailbox: Mailbox,
): Promise<void> {
  const account = session.account?.id;
  if (account === undefined || mailbox.accountId === account) return;
  if (readsAsGuest(session, mailbox)) guests.add(view);
  const state = await session.ctx.runtime.store.privateSeen.readerState(view.id, account);
  if (!state.private) return;
  readers.set(view, account);
  const seen = new Set(state.seen);
  for (let seq = 1; seq <= view.count; seq++) {
    const uid = view.uidAt(seq);
    const bits = view.flagBits(seq);
    const mine = (bits & ~SEEN) | (seen.has(uid) ? SEEN : 0);
    if (mine !== bits) view.setFlags(seq, mine, view.keywordsOf(uid));
  }
}

/**
 * The mailbox's changes since `since` as the reader sees them: each changed
 * message with the reader's \Seen and MODSEQ, plus the messages only the
 * reader's \Seen changed (flags otherwise the view's, which are current: any
 * other change of them would be in the list).
 */
export async function readerChanges(
  session: Session,
  view: SelectedMailbox,
  changes: MailboxChanges,
  since: number,
): Promise<MailboxChanges> {
  const account = readers.get(view);
  if (account === undefined || changes.highestModseq <= since) return changes;
  const states = await session.ctx.runtime.store.privateSeen.states(
    view.id,
    account,
    changes.changed.map((c) => c.uid),
    since,
  );
  if (states.length === 0 && changes.changed.every((c) => !(c.flags & SEEN))) return changes;
  const mine = new Map(states.map((s) => [s.uid, s]));
  const changed: MessageChange[] = changes.changed.map((c) => {
    const s = mine.get(c.uid);
    mine.delete(c.uid);
    return {
      ...c,
      flags: (c.flags & ~SEEN) | (s?.seen ? SEEN : 0),
      modseq: Math.max(c.modseq, s?.modseq ?? 0),
    };
  });
  for (const s of mine.values()) {
    const seq = view.sequenceOf(s.uid);
    if (!seq || s.modseq <= since) continue;
    changed.push({
      uid: s.uid,
      modseq: s.modseq,
      flags: (view.flagBits(seq) & ~SEEN) | (s.seen ? SEEN : 0),
      keywords: [...view.keywordsOf(s.uid)],
    });
  }
  changed.sort((a, b) => a.uid - b.uid);
  return { ...changes, changed };
}

/** FETCH rows read from the database: the reader's \Seen and MODSEQ (in place). */
export async function readerRows(
  session: Session,
  view: SelectedMailbox,
  rows: { uid: number; flags: number; modseq: number }[],
): Promise<void> {
  const account = readers.get(view);
  if (account === undefined || rows.length === 0) return;
  const states = await session.ctx.runtime.store.privateSeen.states(
    view.id,
    account,
    rows.map((r) => r.uid),
  );
  const mine = new Map(states.map((s) => [s.uid, s]));
  for (const r of rows) {
    const s = mine.get(r.uid);
    r.flags = (r.flags & ~SEEN) | (s?.seen ? SEEN : 0);
    if (s) r.modseq = Math.max(r.modseq, s.modseq);
  }
}

/**
 * A flag write to the selected mailbox: the store's updateFlags, or for a
 * reader with its own \Seen the store's split write (the other flags on the
 * message, \Seen on the reader's row, one transaction, one MODSEQ) whose
 * result carries the reader's flags. `changeSeen` false (a replacing STORE
 * without the "s" right) leaves the reader's \Seen as it is.
 */
export function updateFlagsAsReader(
  session: Session,
  view: SelectedMailbox,
  update: FlagUpdate,
  changeSeen = true,
): Promise<FlagUpdateResult> {
  const store = session.ctx.runtime.store;
  const account = readers.get(view);
  if (account === undefined) return store.messages.updateFlags(update);
  return store.privateSeen.update({ ...update, accountId: account, changeSeen });
}

/**
 * SEARCH criteria with SEEN/UNSEEN (and NEW's unseen half) as the reader's set
 * of seen UIDs: one read of that set when any key asks, none otherwise.
 */
export async function readerCriteria(
  session: Session,
  view: SelectedMailbox,
  criteria: MessageCriterion[],
): Promise<MessageCriterion[]> {
  const account = readers.get(view);
  if (account === undefined || !criteria.some(asksSeen)) return criteria;
  const { seen } = await session.ctx.runtime.store.privateSeen.readerState(view.id, account);
  return criteria.map((c) => withSeenSet(c, seen));
}

function asksSeen(c: MessageCriterion): boolean {
  switch (c.kind) {
    case "flags":
      return (c.bits & SEEN) !== 0;
    case "not":
      return asksSeen(c.operand);
    case "or":
      return asksSeen(c.left) || asksSeen(c.right);
    case "and":
      return c.operands.some(asksSeen);
    default:
      return false;
  }
}

function withSeenSet(c: MessageCriterion, seen: readonly number[]): MessageCriterion {
  switch (c.kind) {
    case "flags": {
      if (!(c.bits & SEEN)) return c;
      const isSeen: MessageCriterion = { kind: "uids", uids: seen };
      const mine: MessageCriterion = c.set ? isSeen : { kind: "not", operand: isSeen };
      const rest = c.bits & ~SEEN;
      // Several bits in one criterion (not produced today, but the type allows it): each on its own.
      return rest ? { kind: "and", operands: [mine, { kind: "flags", bits: rest, set: c.set }] } : mine;
    }
    case "not":
      return { kind: "not", operand: withSeenSet(c.operand, seen) };
    case "or":
      return { kind: "or", left: withSeenSet(c.left, seen), right: withSeenSet(c.right, seen) };
    case "and":
      return { kind: "and", operands: c.operands.map((o) => withSeenSet(o, seen)) };
    default:
      return c;
  }
}

/** STATUS/LIST-STATUS of another account's mailbox: UNSEEN is the reader's (in place). */
export async function readerStatus(
  session: Session,
  mailbox: Mailbox,
  counts: MailboxStatusCounts,
  items: readonly StatusItem[],
): Promise<void> {
  const account = session.account?.id;
  if (account === undefined || mailbox.accountId === account || !items.includes("UNSEEN")) return;
  const unseen = await session.ctx.runtime.store.privateSeen.unseenCount(mailbox.id, account);
  if (unseen !== null) counts.unseen = unseen;
}

/**
 * APPEND to another account's mailbox: where the appender's \Seen is private,
 * the \Seen it sends is its own, not the message's (else the owner would find
 * the message read). Returns the flags to store, and what to do with the new
 * UIDs once the append committed: mark them seen for the appender (its own
 * transaction: a failure between the two leaves the message unseen for the
 * appender, never seen for anyone else).
 */
export async function appendSeenAsReader(
  session: Session,
  mailbox: Mailbox,
  flags: readonly (readonly string[])[],
): Promise<{ flags: string[][]; afterAppend: (uids: readonly number[]) => Promise<number | null> }> {
  const account = session.account?.id;
  const isSeen = (f: string) => f.toLowerCase() === "\\seen";
  const none = { flags: flags.map((f) => [...f]), afterAppend: async () => null };
  if (account === undefined || mailbox.accountId === account || !flags.some((f) => f.some(isSeen)))
    return none;
  const store = session.ctx.runtime.store;
  if (await store.privateSeen.isShared(mailbox.id)) return none;
  return {
    flags: flags.map((f) => f.filter((x) => !isSeen(x))),
    afterAppend: async (uids) => {
      const mine = uids.filter((_, i) => flags[i]?.some(isSeen));
      if (mine.length === 0) return null;
      const result = await store.privateSeen.update({
        mailboxId: mailbox.id,
        uids: mine,
        operation: "add",
        flags: ["\\Seen"],
        accountId: account,
        changeSeen: true,
      });
      return result.updated.length ? result.modseq : null;
    },
  };
}

/**
 * After a COPY/MOVE (`sourceUids[i]` became `destinationUids[i]`): the copies
 * carry the copier's \Seen, not the source owner's. From a view with private
 * \Seen into a mailbox where the real flag is the copier's (its own, or one
 * set to seen_shared), the real \Seen is set to what the copier saw; into a
 * mailbox where the copier's \Seen is private, the real \Seen is cleared
 * (the message is new to that mailbox's owner) and the copier's own set.
 * Nothing when neither side is private (no query). Returns the destination's
 * last MODSEQ when it wrote (for the publish), else null.
 */
export async function copySeenAsReader(
  session: Session,
  view: SelectedMailbox,
  destination: Mailbox,
  sourceUids: readonly number[],
  destinationUids: readonly number[],
): Promise<number | null> {
  const account = session.account?.id;
  if (account === undefined || destinationUids.length === 0) return null;
  const store = session.ctx.runtime.store;
  const sourcePrivate = readers.has(view);
  const destinationPrivate =
    destination.accountId !== account && !(await store.privateSeen.isShared(destination.id));
  if (!sourcePrivate && !destinationPrivate) return null;
  const seen: number[] = [];
  const unseen: number[] = [];
  destinationUids.forEach((uid, i) => {
    const seq = view.sequenceOf(sourceUids[i]!);
    (seq && view.flagBits(seq) & SEEN ? seen : unseen).push(uid);
  });
  let modseq: number | null = null;
  const note = (r: FlagUpdateResult) => {
    if (r.updated.length) modseq = Math.max(modseq ?? 0, r.modseq);
  };
  const flag = (uids: number[], operation: "add" | "remove") =>
    uids.length
      ? store.messages
          .updateFlags({ mailboxId: destination.id, uids, operation, flags: ["\\Seen"] })
          .then(note)
      : Promise.resolve();
  if (destinationPrivate) {
    await flag([...destinationUids], "remove");
    if (seen.length)
      note(
        await store.privateSeen.update({
          mailboxId: destination.id,
          uids: seen,
          operation: "add",
          flags: ["\\Seen"],
          accountId: account,
          changeSeen: true,
        }),
      );
  } else {
    await flag(seen, "add");
    await flag(unseen, "remove");
  }
  return modseq;
}
