// SELECT and EXAMINE (RFC 9051 §6.3.2-3), with CONDSTORE (RFC 7162 §3.1.8) and
// QRESYNC (§3.2.5: VANISHED (EARLIER) and FETCH for changes since the client's MODSEQ).
import {
  atom,
  compressSequenceSet,
  fetchResponse,
  flagList,
  type ImapValue,
  type ResponseChunk,
  resolveSequenceSet,
  responseCodes,
  type SelectCommand,
  type SequenceSet,
  untagged,
  untaggedStatus,
} from "@aerogram/imap-protocol";
import { no } from "../errors.ts";
import { requireMailbox } from "../mailbox-lookup.ts";
import { accessOf, noteSelected } from "../namespaces.ts";
import { claimsRecent, loadPrivateSeen, readerChanges, readsAsGuest } from "../private-seen.ts";
import { requireRight, writableWith } from "../rights.ts";
import { mailboxIdCode } from "../search/object-id.ts";
import { SelectedMailbox } from "../selected-mailbox.ts";
import type { Session } from "../session.ts";
import type { CommandResult } from "./result.ts";

export async function select(session: Session, command: SelectCommand): Promise<CommandResult> {
  const hadSelection = session.selected !== null;
  session.select(null);
  if (hadSelection && session.qresync)
    await session.send([untaggedStatus("OK", "Previous mailbox closed", responseCodes.closed())]);
  if (command.qresync && !session.qresync) return { condition: "BAD", text: "QRESYNC is not enabled" };
  if (command.condstore) session.enabled.add("CONDSTORE");
  const mailbox = await requireMailbox(session, command.mailbox);
  requireRight(session, mailbox, "r", command.name);
  // Without a right to change anything, SELECT opens read-only (RFC 4314 §4).
  const readOnly = command.name === "EXAMINE" || !writableWith(accessOf(session, mailbox).rights);
  // One statement: the head, every message's flags and (SELECT, IMAP4rev1) the \Recent claim.
  const claim = !session.rev2 && !readOnly && !readsAsGuest(session, mailbox);
  const snapshot = await session.ctx.imapMailboxes.openForSelect(mailbox.id, claim);
  if (!snapshot) throw no(`Mailbox doesn't exist: ${command.mailbox}`, responseCodes.nonExistent());
  const view = new SelectedMailbox(
    mailbox.id,
    mailbox.name,
    snapshot.uidValidity,
    readOnly,
    0,
    snapshot.uidNext,
    snapshot.messages.length + 8,
  );
  const modseq = snapshot.highestModseq;
  for (const row of snapshot.messages) view.add(row.uid, row.flags, row.keywords);
  await loadPrivateSeen(session, view, mailbox);
  view.uidNext = Math.max(snapshot.uidNext, view.maxUid + 1);
  for (const k of mailbox.keywords) view.knownKeywords.add(k);
  view.modseq = modseq;
  // The claim took every UID below the snapshot's UIDNEXT (recent_uid is at least that now).
  if (claim) view.claimedThrough = snapshot.uidNext;
  const out: ResponseChunk[] = [];
  out.push(...untagged([view.count, atom("EXISTS")]));
  if (!session.rev2) {
    // SELECT claims the \Recent messages; EXAMINE shows them without claiming.
    // A grantee never claims (and sees no) \Recent in another user's mailbox (private-seen.ts).
    view.claimRecent(claimsRecent(view) ? snapshot.recentFrom : view.uidNext, view.uidNext);
    out.push(...untagged([view.recentCount(), atom("RECENT")]));
  }
  noteSelected(session, view, mailbox);
  session.select(view);
  out.push(...session.flagsResponses());
  out.push(untaggedStatus("OK", "UIDs valid", responseCodes.uidValidity(view.uidValidity)));
  out.push(untaggedStatus("OK", "Predicted next UID", responseCodes.uidNext(view.uidNext)));
  out.push(untaggedStatus("OK", "Ok", mailboxIdCode(view.id)));
  if (!session.rev2) {
    for (let seq = 1; seq <= view.count; seq++) {
      if ((view.flagBits(seq) & 1) === 0) {
        out.push(untaggedStatus("OK", "First unseen", responseCodes.unseen(seq)));
        break;
      }
    }
  }
  out.push(untaggedStatus("OK", "Highest", responseCodes.highestModseq(modseq)));
  if (rev2ListResponse(session)) {
    // RFC 9051 §6.3.2: an IMAP4rev2 server returns the mailbox's LIST data.
    out.push(...untagged([atom("LIST"), [], "/", mailbox.name], session.writerOptions));
  }
  if (command.qresync && command.qresync.uidValidity === view.uidValidity) {
    out.push(...(await qresyncResponses(session, view, command.qresync.modseq, command.qresync.knownUids)));
  }
  await session.send(out);
  return {
    condition: "OK",
    text: `${command.name} completed`,
    code: readOnly ? responseCodes.readOnly() : responseCodes.readWrite(),
  };
}

function rev2ListResponse(session: Session): boolean {
  return session.rev2;
}

async function qresyncResponses(
  session: Session,
  view: SelectedMailbox,
  since: bigint,
  knownUids: SequenceSet | null,
): Promise<ResponseChunk[]> {
  // The sequence-match data (RFC 7162 §3.2.5.2) is ignored, as the RFC allows: it
  // only helps a server whose expunge history is incomplete, and ours is complete
  // (every expunge is logged with its MODSEQ and never pruned), so the VANISHED
  // (EARLIER) below is already exactly the known UIDs expunged since `since`.
  const changes = await readerChanges(
    session,
    view,
    await session.ctx.runtime.store.messages.changesSince(view.id, Number(since)),
    Number(since),
  );
  const out: ResponseChunk[] = [];
  // Only UIDs the new view doesn't hold: an expunge committed after the view was
  // listed would otherwise be VANISHED while its message still numbers a sequence
  // slot (the FETCHes below, and the EXISTS above, count it). Its MODSEQ is above
  // the view's, so the next sync reports it the ordinary way.
  let vanished = changes.expunged.filter((uid) => view.sequenceOf(uid) === 0);
  if (knownUids && knownUids.kind === "ranges") {
    const ranges = resolveSequenceSet(knownUids, view.uidNext);
    vanished = vanished.filter((uid) => ranges.some((r) => uid >= r.low && uid <= r.high));
  }
  if (vanished.length) {
    out.push(...untagged([atom("VANISHED"), atom("(EARLIER)"), atom(compressSequenceSet(vanished))]));
  }
  for (const change of changes.changed) {
    const seq = view.sequenceOf(change.uid);
    if (!seq) continue;
    // The view was listed before this read: take the change's flags so FLAGS and
    // MODSEQ below describe one state (RFC 7162 §3.1.1).
    view.setFlags(seq, change.flags, change.keywords);
    const items: [string, ImapValue][] = [
      ["UID", change.uid],
      ["FLAGS", flagList(view.flagNames(seq, !session.rev2))],
      ["MODSEQ", [change.modseq]],
    ];
    out.push(...fetchResponse(seq, items, session.writerOptions));
  }
  return out;
}
