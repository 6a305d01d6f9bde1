// Message flags in commands (RFC 9051 §9):
//   flag      = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" /
//               flag-keyword / flag-extension
//   flag-list = "(" [flag *(SP flag)] ")"
// \Recent is a fetch-only flag and \* only appears in PERMANENTFLAGS, so neither may
// be stored or appended. System flags are returned in their canonical spelling.

import type { CommandCursor } from "./cursor.ts";

export const SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"] as const;

const CANONICAL_SYSTEM_FLAG = new Map<string, string>(SYSTEM_FLAGS.map((flag) => [flag.toUpperCase(), flag]));

export function parseFlag(cursor: CommandCursor): string {
  if (cursor.accept("\\")) {
    if (cursor.peek() === 0x2a /* * */) cursor.fail("\\* is not a flag that can be set");
    const name = `\\${cursor.atom("flag")}`;
    const upper = name.toUpperCase();
    if (upper === "\\RECENT") cursor.fail("\\Recent cannot be set by clients");
    return CANONICAL_SYSTEM_FLAG.get(upper) ?? name;
  }
  return cursor.atom("flag");
}

export function parseFlagList(cursor: CommandCursor): string[] {
  cursor.expect("(");
  const flags: string[] = [];
  if (cursor.accept(")")) return flags;
  do {
    const flag = parseFlag(cursor);
    if (!flags.includes(flag)) flags.push(flag);
  } while (cursor.acceptSp());
  cursor.expect(")");
  return flags;
}
