// COPY / UID COPY (RFC 9051 §6.4.7) and MOVE / UID MOVE (RFC 6851): one
// transaction each; COPYUID (RFC 4315) in the tagged OK (MOVE: in an untagged OK
// before the EXPUNGEs, RFC 6851 §4.3).
import {
  type CopyMoveCommand,
  compressSequenceSet,
  responseCodes,
  untaggedStatus,
} from "@aerogram/imap-protocol";
import { queueJunkLearning } from "@aerogram/spam";
import { QuotaExceededError } from "@aerogram/store";
import { requireMailbox } from "../mailbox-lookup.ts";
import { reportExpunges } from "../mailbox-sync.ts";
import { ownerOfMailbox } from "../namespaces.ts";
import { copySeenAsReader } from "../private-seen.ts";
import { publishChange } from "../publish.ts";
import { requireSelectedRight } from "../rights.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function copy(session: Session, command: CopyMoveCommand): Promise<CommandResult> {
  const view = session.selected!;
  const { uids, invalid } = view.resolve(command.sequenceSet, command.uid, session.savedSearch);
  if (invalid) return { condition: "BAD", text: "Invalid sequence set" };
  const destination = await requireMailbox(session, command.mailbox, true);
  const isMove = command.name === "MOVE";
  if (isMove && view.readOnly)
    return { condition: "NO", text: "Mailbox is read-only", code: responseCodes.readOnly() };
  if (isMove) {
    // MOVE is COPY, STORE \Deleted and EXPUNGE in one (RFC 6851 §3.3): "t" and "e" on the source.
    requireSelectedRight(view, "t", "MOVE");
    requireSelectedRight(view, "e", "MOVE");
  }
  const live = uids.filter((uid) => !view.pendingExpunges.has(uid));
  if (live.length === 0) {
    if (uids.length)
      return { condition: "NO", text: "Messages were expunged", code: responseCodes.expungeIssued() };
    return ok(`${command.name} completed`);
  }
  let result: Awaited<ReturnType<typeof session.ctx.imapMessages.copy>>;
  try {
    if (isMove) {
      // Within one owner a MOVE adds nothing to its usage; into another owner's
      // mailbox that owner's quota applies.
      const sameOwner = destination.accountId === ownerOfMailbox(session, view.id);
      const owner = sameOwner
        ? undefined
        : await session.ctx.runtime.store.accounts.byId(destination.accountId);
      result = await session.ctx.imapMessages.move(view.id, live, destination.id, owner?.quotaBytes ?? null);
    } else {
      // Quota is the destination owner's: a shared mailbox counts against its owner.
      const account = await session.ctx.runtime.store.accounts.byId(destination.accountId);
      result = await session.ctx.imapMessages.copy(
        view.id,
        live,
        destination.id,
        account?.quotaBytes ?? null,
      );
    }
  } catch (err) {
    if (err instanceof QuotaExceededError) {
      return { condition: "NO", text: "Quota exceeded", code: responseCodes.overQuota() };
    }
    throw err;
  }
  // Shared mailboxes: the copies carry the copier's \Seen (private-seen.ts).
  const seenModseq = await copySeenAsReader(
    session,
    view,
    destination,
    result.sourceUids,
    result.destinationUids,
  );
  if (result.destinationUids.length) {
    const modseq = seenModseq ?? result.destinationModseq;
    publishChange(session, destination.id, "exists", modseq, result.destinationUids);
  }
  // Into or out of \Junk: queue rspamd learning (libs/spam learn.ts; async, never fails the command).
  void queueJunkLearning(
    session.ctx.runtime.store,
    session.ctx.runtime.config.filtering.rspamdUrl !== undefined,
    {
      accountId: session.account!.id,
      fromMailboxId: view.id,
      toMailboxId: destination.id,
      toUids: result.destinationUids,
    },
  );
  const code = result.sourceUids.length
    ? responseCodes.copyUid(
        result.uidValidity,
        compressSequenceSet(result.sourceUids),
        compressSequenceSet(result.destinationUids),
      )
    : null;
  if (isMove) {
    if (code) await session.send([untaggedStatus("OK", "Moved", code)]);
    if (result.sourceModseq !== undefined) {
      publishChange(session, view.id, "expunge", result.sourceModseq, result.sourceUids);
      await session.send(reportExpunges(session, result.sourceUids));
    }
    return ok("MOVE completed");
  }
  return ok("COPY completed", code);
}
