/**
 * Change detection for the selected mailbox (what live updates rest on): compare the
 * view's MODSEQ with the mailbox's, read what changed from Postgres (the
 * expunge log and the messages' MODSEQ index), and produce the untagged
 * responses in a valid order:
 *
 *   EXPUNGE (or VANISHED with QRESYNC), highest sequence number first — only when
 *     the running command allows it (RFC 9051 §7.5.1); otherwise the UIDs wait in
 *     the view's pendingExpunges, keeping their sequence numbers;
 *   EXISTS (+ RECENT for IMAP4rev1) for new messages;
 *   FETCH (FLAGS) for messages whose flags changed elsewhere.
 *
 * Events are only wake-ups; this reads the truth, so a lost event never makes a
 * session wrong.
 */
import {
  atom,
  compressSequenceSet,
  fetchResponse,
  flagList,
  type ImapValue,
  type ResponseChunk,
  untagged,
} from "@aerogram/imap-protocol";
import { encodeFlags, MailboxNotFoundError } from "@aerogram/store";
import { claimsRecent, readerChanges } from "./private-seen.ts";
import type { Session } from "./session.ts";

export class MailboxGoneError extends Error {
  constructor() {
    super("the selected mailbox no longer exists");
    this.name = "MailboxGoneError";
  }
}

/**
 * `afterCommand`: the sync after a command, which may trust ctx.heads to skip the
 * read (an IDLE push or poll always reads: it runs because something moved).
 */
export async function syncSelected(
  session: Session,
  allowExpunge: boolean,
  afterCommand = false,
): Promise<ResponseChunk[]> {
  const view = session.selected;
  if (!view) return [];
  const known = view.knownHead;
  view.knownHead = null;
  const heads = session.ctx.heads;
  // The command's own read (or write under the row lock) saw the head: the process learns it.
  if (known !== null) heads.observed(view.id, known, session.commandStartedAt);
  const expungesDue = allowExpunge && view.pendingExpunges.size > 0;
  // The command's own query already showed the mailbox unchanged past the view, or
  // a recent enough read did and no wake-up since says otherwise (mailbox-heads.ts).
  if (
    !expungesDue &&
    (known !== null ? known <= view.modseq : afterCommand && heads.current(view.id, view.modseq))
  )
    return [];
  const store = session.ctx.runtime.store;
  let changes: Awaited<ReturnType<typeof store.messages.changesSince>>;
  const startedAt = performance.now();
  try {
    changes = await store.messages.changesSince(view.id, view.modseq);
  } catch (err) {
    if (err instanceof MailboxNotFoundError) throw new MailboxGoneError();
    throw err;
  }
  if (changes.uidValidity !== view.uidValidity) throw new MailboxGoneError();
  changes = await readerChanges(session, view, changes, view.modseq);
  heads.observed(view.id, changes.highestModseq, startedAt);
  // Every read happens before the view changes: a query that fails after the view
  // took in new messages or expunges would lose the EXISTS/EXPUNGE that tell the
  // client (the next sync would find nothing left to report), and the client's
  // view would no longer match the server's for the rest of the session.
  let maxUid = view.maxUid;
  for (const change of changes.changed) if (change.uid > maxUid) maxUid = change.uid;
  const claims = maxUid > view.maxUid && !session.rev2 && !view.readOnly && claimsRecent(view);
  // Below claimedThrough this session's own claim already moved recent_uid: nothing to claim.
  const recentFrom = !claims
    ? undefined
    : maxUid + 1 <= view.claimedThrough
      ? maxUid + 1
      : await session.ctx.imapMailboxes.claimRecent(view.id, maxUid + 1);
  if (claims) view.claimedThrough = Math.max(view.claimedThrough, maxUid + 1);
  const out: ResponseChunk[] = [];
  for (const uid of changes.expunged) if (view.sequenceOf(uid)) view.pendingExpunges.add(uid);
  if (allowExpunge) out.push(...reportExpunges(session, [...view.pendingExpunges]));
  const before = view.count;
  const flagChanges: number[] = [];
  const newKeywords: string[] = [];
  for (const change of changes.changed) {
    if (view.pendingExpunges.has(change.uid)) continue;
    const seq = view.sequenceOf(change.uid);
    if (seq) {
      if (view.flagsDiffer(seq, change.flags, change.keywords)) {
        for (const k of change.keywords) if (!view.knownKeywords.has(k)) newKeywords.push(k);
        view.setFlags(seq, change.flags, change.keywords);
        flagChanges.push(change.uid);
      }
    } else if (change.uid > view.maxUid) {
      for (const k of change.keywords) if (!view.knownKeywords.has(k)) newKeywords.push(k);
      view.add(change.uid, change.flags, change.keywords);
    }
  }
  if (newKeywords.length) out.push(...session.flagsResponses());
  if (view.count !== before) {
    out.push(...untagged([view.count, atom("EXISTS")]));
    if (!session.rev2) {
      if (recentFrom !== undefined) view.claimRecent(recentFrom, view.maxUid + 1);
      out.push(...untagged([view.recentCount(), atom("RECENT")]));
    }
  }
  for (const uid of flagChanges) {
    const seq = view.sequenceOf(uid);
    if (!seq) continue;
    const items: [string, ImapValue][] = [];
    items.push(["UID", uid]);
    items.push(["FLAGS", flagList(view.flagNames(seq, !session.rev2))]);
    if (session.condstore) {
      const change = changes.changed.find((c) => c.uid === uid);
      items.push(["MODSEQ", [change ? change.modseq : changes.highestModseq]]);
    }
    out.push(...fetchResponse(seq, items, session.writerOptions));
  }
  view.modseq = Math.max(view.modseq, changes.highestModseq);
  view.uidNext = Math.max(view.uidNext, changes.uidNext);
  return out;
}

/**
 * The session's own APPEND to its selected mailbox, without a read: when the
 * append's MODSEQ is the one right after the view's, nothing else changed in
 * between, so the new messages are exactly the appended UIDs with the flags and
 * keywords the client sent (stored as encodeFlags gives them); the view takes
 * them and FLAGS (a new keyword), EXISTS and RECENT are answered now, and the
 * sync after the command has nothing to ask. Otherwise (another change came
 * between, or expunges wait to be reported) nothing is answered here and the
 * sync reads the change log as usual. `recentFrom` is
 * the \Recent claim the append made (store appendByName's claimRecentIn).
 */
export function applyOwnAppend(
  session: Session,
  appended: { uids: readonly number[]; modseq: number },
  flags: readonly (readonly string[])[],
  recentFrom: number | undefined,
): ResponseChunk[] {
  const view = session.selected;
  if (!view || appended.uids.length === 0) return [];
  const end = appended.uids[appended.uids.length - 1]! + 1;
  if (recentFrom !== undefined) {
    view.claimRecent(recentFrom, end);
    view.claimedThrough = Math.max(view.claimedThrough, end);
  }
  const encoded = flags.map((f) => encodeFlags(f));
  // With expunges waiting, the sync answers as always (EXPUNGE before EXISTS), so
  // a client sees the same order whether or not the append was its own.
  if (
    appended.modseq !== view.modseq + 1 ||
    appended.uids[0]! <= view.maxUid ||
    view.pendingExpunges.size > 0
  )
    return [];
  const keywordsBefore = view.knownKeywords.size;
  for (const [i, uid] of appended.uids.entries()) view.add(uid, encoded[i]!.bits, encoded[i]!.keywords);
  view.modseq = appended.modseq;
  view.uidNext = Math.max(view.uidNext, end);
  view.knownHead = view.modseq;
  // A keyword new to the client extends FLAGS first (RFC 9051 §7.3.5), as in syncSelected.
  const out = view.knownKeywords.size !== keywordsBefore ? session.flagsResponses() : [];
  out.push(...untagged([view.count, atom("EXISTS")]));
  if (!session.rev2) out.push(...untagged([view.recentCount(), atom("RECENT")]));
  return out;
}

/** EXPUNGE responses (or one VANISHED with QRESYNC) for UIDs leaving the view. */
export function reportExpunges(session: Session, uids: readonly number[]): ResponseChunk[] {
  const view = session.selected;
  if (!view || uids.length === 0) return [];
  const out: ResponseChunk[] = [];
  if (session.qresync) {
    const gone = uids.filter((uid) => view.remove(uid) > 0);
    if (gone.length) out.push(...untagged([atom("VANISHED"), atom(compressSequenceSet(gone))]));
    return out;
  }
  const seqs = uids
    .map((uid) => view.sequenceOf(uid))
    .filter((s) => s > 0)
    .sort((a, b) => b - a);
  const byUid = seqs.map((seq) => view.uidAt(seq));
  for (let i = 0; i < seqs.length; i++) {
    view.remove(byUid[i]!);
    out.push(...untagged([seqs[i]!, atom("EXPUNGE")]));
  }
  return out;
}
