// SEARCH / UID SEARCH (RFC 9051 §6.4.4) with ESEARCH return options (RFC 4731:
// MIN MAX ALL COUNT) and SAVE (RFC 5182, "$"). The keys become the store's search
// criteria (search/search-criteria.ts), one SQL query in libs/store; BODY/TEXT go
// through the full-text index in that query (search/full-text.ts adds what the
// index doesn't cover yet, read from blobs by search/text-search.ts).
import {
  atom,
  compressSequenceSet,
  type ImapValue,
  responseCodes,
  type SearchCommand,
  type SearchKey,
  untagged,
} from "@aerogram/imap-protocol";
import { matchingUids } from "../search/matching.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export function usesModseq(keys: readonly SearchKey[]): boolean {
  return keys.some((k) =>
    k.key === "MODSEQ"
      ? true
      : k.key === "NOT"
        ? usesModseq([k.operand])
        : k.key === "OR"
          ? usesModseq([k.left, k.right])
          : k.key === "AND"
            ? usesModseq(k.operands)
            : false,
  );
}

export async function search(session: Session, command: SearchCommand): Promise<CommandResult> {
  const view = session.selected!;
  if (command.charset && command.charset !== "UTF-8" && command.charset !== "US-ASCII") {
    return {
      condition: "NO",
      text: "Unsupported charset",
      code: responseCodes.badCharset(["UTF-8", "US-ASCII"]),
    };
  }
  const found = await matchingUids(session, command.criteria);
  const messages = session.ctx.imapMessages;
  const modseqWanted = usesModseq(command.criteria);
  if (modseqWanted) await session.enableCondstore();
  const numbers = command.uid ? found : found.map((uid) => view.sequenceOf(uid));
  const options = command.returnOptions;
  let highest = 0;
  if (modseqWanted && found.length) {
    // RFC 4731 §3.2 / RFC 7162 §3.1.5: with only MIN and/or MAX, the MODSEQ is that of
    // the returned messages; otherwise of all matching ones.
    const onlyEnds = options !== null && !options.includes("ALL") && !options.includes("COUNT");
    const relevant = onlyEnds
      ? [
          ...(options.includes("MIN") ? [found[0]!] : []),
          ...(options.includes("MAX") ? [found[found.length - 1]!] : []),
        ]
      : found;
    const rows = await messages.fetchRows(view.id, relevant, {});
    highest = rows.reduce((m, r) => Math.max(m, r.modseq), 0);
  }
  if (options === null) {
    const values: ImapValue[] = [atom("SEARCH"), ...numbers];
    if (modseqWanted && found.length) values.push([atom("MODSEQ"), highest]);
    await session.send(untagged(values));
    return ok("SEARCH completed");
  }
  if (options.includes("SAVE")) session.savedSearch = found;
  const values: ImapValue[] = [atom("ESEARCH"), [atom("TAG"), command.tag]];
  if (command.uid) values.push(atom("UID"));
  const wantsOnlySave = options.length === 1 && options[0] === "SAVE";
  if (!wantsOnlySave) {
    if (options.includes("MIN") && numbers.length) values.push(atom("MIN"), numbers[0]!);
    if (options.includes("MAX") && numbers.length) values.push(atom("MAX"), numbers[numbers.length - 1]!);
    if (options.includes("ALL") && numbers.length)
      values.push(atom("ALL"), atom(compressSequenceSet(numbers)));
    if (options.includes("COUNT")) values.push(atom("COUNT"), numbers.length);
    if (modseqWanted && found.length) values.push(atom("MODSEQ"), highest);
    await session.send(untagged(values));
  }
  return ok("SEARCH completed");
}
