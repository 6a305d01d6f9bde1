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
import { encodeFlags } from "@aerogram/store";
import { updateFlagsAsReader } from "../private-seen.ts";
import { publishChange } from "../publish.ts";
import { maySetSeen, replacePreserves, storableFlags } from "../rights.ts";
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
  const operation = command.action === "replace" ? "set" : command.action;
  // A shared mailbox: only the flags the caller has rights for (RFC 4314 §4).
  const flags = storableFlags(view, operation, command.flags);
  const preserve = replacePreserves(view);
  if (command.unchangedSince !== null) await session.enableCondstore();
  const keywordsBefore = view.knownKeywords.size;
  const live = uids.filter((uid) => !view.pendingExpunges.has(uid));
  const result = live.length
    ? await updateFlagsAsReader(
        session,
        view,
        {
          mailboxId: view.id,
          uids: live,
          operation,
          flags,
          durable: session.ctx.limits.durableFlagWrites,
          ...(command.unchangedSince !== null ? { unchangedSince: Number(command.unchangedSince) } : {}),
          ...(operation === "set" && preserve ? { preserve } : {}),
        },
        maySetSeen(view),
      )
    : { modseq: view.modseq, updated: [], modified: [], current: [] };
  if (result.updated.length) {
    publishChange(
      session,
      view.id,
      "flags",
      result.modseq,
      result.updated.map((c) => c.uid),
    );
  }
  if (live.length) view.ownWrite(result.updated.length ? result.modseq - 1 : result.modseq, result.modseq);
  const changed = new Set(result.updated.map((c) => c.uid));
  const modified = new Set(result.modified);
  const now = new Map(result.current.map((c) => [c.uid, c]));
  const requested = encodeFlags(flags);
  // The view must stay what the client was told. A FETCH FLAGS answer carries the
  // database's state after the STORE (RFC 9051 §6.4.6: the new value), which may
  // include other sessions' changes this session had not heard of: the view takes
  // it, with its MODSEQ, as one pair. After .SILENT the client believes its own
  // request applied to what it knew; the view takes that, and the sync after the
  // command reports any difference (another session's change) as FETCH FLAGS.
  const answers: { uid: number; seq: number; modseq: number }[] = [];
  for (const uid of live) {
    const state = now.get(uid);
    const seq = view.sequenceOf(uid);
    // MODIFIED (RFC 7162 §3.1.3): not stored, nothing to tell. Gone meanwhile
    // (expunged by another session, RFC 2180 §4.2): no FETCH; its EXPUNGE comes
    // when the client may renumber.
    if (modified.has(uid) || !state || !seq) continue;
    if (command.silent) {
      const believed = applyFlagOperation(
        operation,
        view.flagBits(seq),
        view.keywordsOf(uid),
        requested,
        preserve,
      );
      view.setFlags(seq, believed.bits, believed.keywords);
    } else view.setFlags(seq, state.flags, state.keywords);
    answers.push({ uid, seq, modseq: state.modseq });
  }
  // New keywords first extend FLAGS (RFC 9051 §7.3.5), before any FETCH uses them.
  const out: ResponseChunk[] = view.knownKeywords.size !== keywordsBefore ? session.flagsResponses() : [];
  for (const { uid, seq, modseq } of answers) {
    // .SILENT suppresses the FLAGS echo, but with CONDSTORE the new MODSEQ is still
    // reported for changed messages (RFC 7162 §3.1.3).
    if (command.silent && !(session.condstore && changed.has(uid))) continue;
    const items: [string, ImapValue][] = [];
    if (command.uid || session.qresync) items.push(["UID", uid]);
    if (!command.silent) items.push(["FLAGS", flagList(view.flagNames(seq, !session.rev2))]);
    if (session.condstore) items.push(["MODSEQ", [modseq]]);
    out.push(...fetchResponse(seq, items, session.writerOptions));
  }
  await session.send(out);
  if (modified.size) {
    const set = command.uid ? [...modified] : [...modified].map((uid) => view.sequenceOf(uid));
    return { condition: "OK", text: "Conditional STORE failed", code: responseCodes.modified(set) };
  }
  return ok("STORE completed");
}

/** A flag operation applied to one message's flags, as the database applies it (updateFlags). */
function applyFlagOperation(
  operation: "set" | "add" | "remove",
  bits: number,
  keywords: readonly string[],
  requested: { bits: number; keywords: string[] },
  preserve?: { bits: number; keywords: boolean },
): { bits: number; keywords: string[] } {
  if (operation === "set") {
    // Flags the caller may not change keep their values (rights.ts replacePreserves).
    const keep = preserve?.bits ?? 0;
    return {
      bits: (requested.bits & ~keep) | (bits & keep),
      keywords: preserve?.keywords ? [...keywords] : [...requested.keywords],
    };
  }
  if (operation === "add")
    return {
      bits: bits | requested.bits,
      keywords: [...keywords, ...requested.keywords.filter((k) => !keywords.includes(k))],
    };
  return { bits: bits & ~requested.bits, keywords: keywords.filter((k) => !requested.keywords.includes(k)) };
}
