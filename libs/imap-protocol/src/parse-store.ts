// STORE arguments (RFC 9051 §6.4.6, RFC 7162 §3.1.3):
//   store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
//   store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"
//   store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))

import type { StoreCommand } from "./ast.ts";
import type { CommandCursor } from "./cursor.ts";
import { parseFlag, parseFlagList } from "./parse-flags.ts";
import { parseSequenceSet } from "./parse-sequence-set.ts";

export function parseStoreArguments(cursor: CommandCursor, tag: string, uid: boolean): StoreCommand {
  cursor.sp();
  const sequenceSet = parseSequenceSet(cursor);
  cursor.sp();
  let unchangedSince: bigint | null = null;
  if (cursor.accept("(")) {
    const modifier = cursor.atom("store modifier").toUpperCase();
    if (modifier !== "UNCHANGEDSINCE") cursor.fail(`Unknown store modifier ${modifier}`);
    cursor.sp();
    unchangedSince = cursor.modseq("UNCHANGEDSINCE value", true);
    cursor.expect(")");
    cursor.sp();
  }
  const action = cursor.accept("+") ? "add" : cursor.accept("-") ? "remove" : "replace";
  const item = cursor.atom("FLAGS").toUpperCase();
  if (item !== "FLAGS" && item !== "FLAGS.SILENT") cursor.fail(`Unknown store item ${item}`);
  cursor.sp();
  let flags: string[];
  if (cursor.peek() === 0x28 /* ( */) {
    flags = parseFlagList(cursor);
  } else {
    flags = [parseFlag(cursor)];
    while (cursor.acceptSp()) {
      const flag = parseFlag(cursor);
      if (!flags.includes(flag)) flags.push(flag);
    }
  }
  return {
    tag,
    name: "STORE",
    uid,
    sequenceSet,
    action,
    silent: item === "FLAGS.SILENT",
    flags,
    unchangedSince,
  };
}
