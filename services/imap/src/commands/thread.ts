// THREAD / UID THREAD (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES over the
// stored thread keys of the matching messages (search/thread.ts).
//
// THREAD ... ALL is cached on the view (selected-mailbox.ts threadCache): its
// answer is a function of the set of messages only, since a message's thread
// keys (Message-ID, In-Reply-To, References, base subject, sent date) never
// change once its search row exists and a UID is never reused within a
// UIDVALIDITY (RFC 9051 §2.3.1.1). The set is the view's messages that
// PostgreSQL still has; it is unchanged while the view's membership is and
// the mailbox's HIGHESTMODSEQ is (every APPEND, COPY/MOVE in, and EXPUNGE
// raises it; a flag change does too, a harmless miss). A webmail re-threading
// an unchanged mailbox then costs two cheap statements, not the keys of every
// message and the trees (RFC 5256 §3 REFERENCES rebuilt in JavaScript).
import type { ThreadCommand } from "@aerogram/imap-protocol";
import { matchingUids, selectsAll } from "../search/matching.ts";
import { sortKeysAndHead } from "../search/sort-keys-ready.ts";
import { formatThreads, orderedSubject, references } from "../search/thread.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function thread(session: Session, command: ThreadCommand): Promise<CommandResult> {
  const view = session.selected!;
  const all = selectsAll(command.criteria);
  const store = session.ctx.runtime.store;
  const { complete, head } = await sortKeysAndHead(session, all);
  const cached = view.threadCache;
  let uidList: string;
  if (
    all &&
    head !== undefined &&
    cached &&
    cached.algorithm === command.algorithm &&
    cached.membership === view.membership &&
    cached.head === head
  ) {
    uidList = cached.list;
  } else {
    const found = all ? null : await matchingUids(session, command.criteria);
    const keys = (await store.search.threadKeys(view.id, found)).filter((k) => view.sequenceOf(k.uid) > 0);
    const roots = command.algorithm === "REFERENCES" ? references(keys) : orderedSubject(keys);
    uidList = formatThreads(roots, (uid) => uid);
    // only an answer computed from every message's stored keys (none indexed on the spot) is kept
    if (all && complete && head !== undefined)
      view.threadCache = { algorithm: command.algorithm, membership: view.membership, head, list: uidList };
  }
  const list = command.uid ? uidList : uidList.replace(/\d+/g, (uid) => String(view.sequenceOf(Number(uid))));
  await session.send([threadResponse(list)]);
  return ok("THREAD completed");
}

/** `* THREAD (1 2)(3)`: numbers and parentheses only, written as they are. */
function threadResponse(list: string): Buffer {
  return Buffer.from(`* THREAD${list === "" ? "" : ` ${list}`}\r\n`, "latin1");
}
