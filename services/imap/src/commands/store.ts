// STORE / UID STORE (RFC 9051 §6.4.6): FLAGS, +FLAGS, -FLAGS, .SILENT, keywords,
// and UNCHANGEDSINCE (RFC 7162 §3.1.3, MODIFIED response code).
import {
  fetchResponse,
  flagList,
  type ImapValue,
  type ResponseChunk,
  responseCodes,
  type StoreCommand,
} from "@aerogram/imap-protocol";
import { publishChange } from "../publish.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function store(session: Session, command: StoreCommand): Promise<CommandResult> {
  const view = session.selected!;
  const { uids, invalid } = view.resolve(command.sequenceSet, command.uid, session.savedSearch);
  if (invalid) return { condition: "BAD", text: "Invalid sequence set" };
  if (view.readOnly) return { condition: "NO", text: "Mailbox is read-only", code: responseCodes.readOnly() };
  if (command.flags.some((f) => f.toLowerCase() === "\\recent")) {
    return { condition: "BAD", text: "\\Recent can't be changed" };
  }
  if (command.unchangedSince !== null) await session.enableCondstore();
  const keywordsBefore = view.knownKeywords.size;
  const live = uids.filter((uid) => !view.pendingExpunges.has(uid));
  const operation = command.action === "replace" ? "set" : command.action;
  const result = live.length
    ? await session.ctx.runtime.store.messages.updateFlags({
        mailboxId: view.id,
        uids: live,
        operation,
        flags: command.flags,
        ...(command.unchangedSince !== null ? { unchangedSince: Number(command.unchangedSince) } : {}),
      })
    : { modseq: view.modseq, updated: [], modified: [] };
  const modseqs = new Map<number, number>();
  for (const change of result.updated) {
    const seq = view.sequenceOf(change.uid);
    if (seq) view.setFlags(seq, change.flags, change.keywords);
    modseqs.set(change.uid, change.modseq);
  }
  if (result.updated.length) {
    publishChange(
      session,
      view.id,
      "flags",
      result.modseq,
      result.updated.map((c) => c.uid),
    );
  }
  const modified = new Set(result.modified);
  // New keywords first extend FLAGS (RFC 9051 §7.3.5), before any FETCH uses them.
  const out: ResponseChunk[] = view.knownKeywords.size !== keywordsBefore ? session.flagsResponses() : [];
  for (const uid of live) {
    if (modified.has(uid)) continue;
    const seq = view.sequenceOf(uid);
    if (!seq) continue;
    // .SILENT suppresses the FLAGS echo, but with CONDSTORE the new MODSEQ is still
    // reported for changed messages (RFC 7162 §3.1.3).
    const changedModseq = modseqs.get(uid);
    if (command.silent && !(session.condstore && changedModseq !== undefined)) continue;
    const items: [string, ImapValue][] = [];
    if (command.uid || session.qresync) items.push(["UID", uid]);
    if (!command.silent) items.push(["FLAGS", flagList(view.flagNames(seq, !session.rev2))]);
    if (session.condstore) items.push(["MODSEQ", [changedModseq ?? (await currentModseq(session, uid))]]);
    out.push(...fetchResponse(seq, items, session.writerOptions));
  }
  await session.send(out);
  if (modified.size) {
    const set = command.uid ? [...modified] : [...modified].map((uid) => view.sequenceOf(uid));
    return { condition: "OK", text: "Conditional STORE failed", code: responseCodes.modified(set) };
  }
  return ok("STORE completed");
}

async function currentModseq(session: Session, uid: number): Promise<number> {
  const view = session.selected!;
  const [row] = await session.ctx.imapMessages.fetchRows(view.id, [uid], {});
  return row?.modseq ?? view.modseq;
}
