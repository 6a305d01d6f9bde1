// SORT / UID SORT (RFC 5256 §3) with SORT=DISPLAY keys (RFC 5957) and ESORT
// return options (RFC 5267 §3: MIN, MAX, ALL, COUNT; SAVE per RFC 5182): the
// search keys select (search/matching.ts), the stored sort keys order in one
// ORDER BY (libs/store search/sort.ts).
//
// SORT ... ALL is cached on the view (selected-mailbox.ts sortCache) on the
// terms THREAD's is (commands/thread.ts): every sort key (dates, size, the
// stored RFC 5256 §2.1 base subject and addresses) is fixed once a message's
// search row exists, so the order is a function of the set of messages, which
// is unchanged while the view's membership and the mailbox's HIGHESTMODSEQ are.
import { atom, type ImapValue, type SortCommand, untagged } from "@aerogram/imap-protocol";
import { matchingUids, selectsAll } from "../search/matching.ts";
import { sortKeysAndHead } from "../search/sort-keys-ready.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

/**
 * A sequence-set that keeps the given order (RFC 5267 §3.1: ESORT's ALL is in
 * sort order): only ascending runs of consecutive numbers become ranges.
 */
export function orderedSequenceSet(numbers: readonly number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < numbers.length) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
    out.push(j > i ? `${numbers[i]}:${numbers[j]}` : `${numbers[i]}`);
    i = j + 1;
  }
  return out.join(",");
}

export async function sort(session: Session, command: SortCommand): Promise<CommandResult> {
  const view = session.selected!;
  const all = selectsAll(command.criteria);
  const { complete, head } = await sortKeysAndHead(session, all);
  const key = command.sortCriteria.map((c) => `${c.reverse ? "REVERSE " : ""}${c.key}`).join(" ");
  const cached = view.sortCache;
  let sorted: number[];
  if (
    all &&
    head !== undefined &&
    cached &&
    cached.key === key &&
    cached.membership === view.membership &&
    cached.head === head
  ) {
    sorted = Array.from(cached.uids);
  } else {
    const found = all ? null : await matchingUids(session, command.criteria);
    sorted = (await session.ctx.runtime.store.search.sort(view.id, found, command.sortCriteria)).filter(
      (uid) => view.sequenceOf(uid) > 0,
    );
    if (all && complete && head !== undefined)
      view.sortCache = { key, membership: view.membership, head, uids: Uint32Array.from(sorted) };
  }
  const numbers = command.uid ? sorted : sorted.map((uid) => view.sequenceOf(uid));
  const options = command.returnOptions;
  if (options === null) {
    await session.send(untagged([atom("SORT"), ...numbers]));
    return ok("SORT completed");
  }
  if (options.includes("SAVE")) session.savedSearch = [...sorted].sort((a, b) => a - b);
  if (options.length === 1 && options[0] === "SAVE") return ok("SORT completed");
  const values: ImapValue[] = [atom("ESEARCH"), [atom("TAG"), command.tag]];
  if (command.uid) values.push(atom("UID"));
  // RFC 5267 §3.1: MIN/MAX are the first and last message in sort order
  if (options.includes("MIN") && numbers.length) values.push(atom("MIN"), numbers[0]!);
  if (options.includes("MAX") && numbers.length) values.push(atom("MAX"), numbers[numbers.length - 1]!);
  if (options.includes("ALL") && numbers.length) values.push(atom("ALL"), atom(orderedSequenceSet(numbers)));
  if (options.includes("COUNT")) values.push(atom("COUNT"), numbers.length);
  await session.send(untagged(values));
  return ok("SORT completed");
}
