// EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1): removes \Deleted
// messages the session can see, answering EXPUNGE (or VANISHED) for each.
import type { ExpungeCommand } from "@aerogram/imap-protocol";
import { responseCodes } from "@aerogram/imap-protocol";
import { reportExpunges } from "../mailbox-sync.ts";
import { publishChange } from "../publish.ts";
import { requireSelectedRight } from "../rights.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function expunge(session: Session, command: ExpungeCommand): Promise<CommandResult> {
  const view = session.selected!;
  if (view.readOnly) return { condition: "NO", text: "Mailbox is read-only", code: responseCodes.readOnly() };
  requireSelectedRight(view, "e", "EXPUNGE");
  const uids = command.uids ? view.resolve(command.uids, true, session.savedSearch).uids : view.allUids();
  if (uids.length === 0) return ok("EXPUNGE completed");
  const result = await session.ctx.runtime.store.messages.expunge(view.id, uids, {
    onlyDeleted: true,
    durable: session.ctx.limits.durableFlagWrites,
  });
  if (result.uids.length) {
    publishChange(session, view.id, "expunge", result.modseq, result.uids);
    await session.send(reportExpunges(session, result.uids));
  }
  view.ownWrite(result.uids.length ? result.modseq - 1 : result.modseq, result.modseq);
  return ok("EXPUNGE completed", session.condstore ? responseCodes.highestModseq(result.modseq) : null);
}
