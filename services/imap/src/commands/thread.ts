// THREAD / UID THREAD (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES over the
// stored thread keys of the matching messages (search/thread.ts).
import type { ThreadCommand } from "@aerogram/imap-protocol";
import { matchingUids, selectsAll } from "../search/matching.ts";
import { ensureSortKeys } from "../search/sort-keys-ready.ts";
import { formatThreads, orderedSubject, references } from "../search/thread.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function thread(session: Session, command: ThreadCommand): Promise<CommandResult> {
  const view = session.selected!;
  await ensureSortKeys(session);
  const found = selectsAll(command.criteria) ? null : await matchingUids(session, command.criteria);
  const keys = (await session.ctx.runtime.store.search.threadKeys(view.id, found)).filter(
    (k) => view.sequenceOf(k.uid) > 0,
  );
  const roots = command.algorithm === "REFERENCES" ? references(keys) : orderedSubject(keys);
  const list = formatThreads(roots, command.uid ? (uid) => uid : (uid) => view.sequenceOf(uid));
  await session.send([threadResponse(list)]);
  return ok("THREAD completed");
}

/** `* THREAD (1 2)(3)`: numbers and parentheses only, written as they are. */
function threadResponse(list: string): Buffer {
  return Buffer.from(`* THREAD${list === "" ? "" : ` ${list}`}\r\n`, "latin1");
}
