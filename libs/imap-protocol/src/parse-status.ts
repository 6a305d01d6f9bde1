// STATUS (RFC 9051 §6.3.11):
//   status     = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
//   status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" / "DELETED" / "SIZE" /
//                "RECENT" (RFC 3501) / "HIGHESTMODSEQ" (RFC 7162) / "APPENDLIMIT" (RFC 7889) /
//                "MAILBOXID" (RFC 8474)
// The status-att list is shared with LIST ... RETURN (STATUS (...)) (RFC 5819).

import type { StatusCommand, StatusItem } from "./ast.ts";
import type { CommandCursor } from "./cursor.ts";

const STATUS_ITEMS = new Set<string>([
  "MESSAGES",
  "RECENT",
  "UIDNEXT",
  "UIDVALIDITY",
  "UNSEEN",
  "DELETED",
  "SIZE",
  "HIGHESTMODSEQ",
  "APPENDLIMIT",
  "MAILBOXID",
]);

export function parseStatusItems(cursor: CommandCursor): StatusItem[] {
  cursor.expect("(");
  const items: StatusItem[] = [];
  do {
    const item = cursor.atom("status item").toUpperCase();
    if (!STATUS_ITEMS.has(item)) cursor.fail(`Unknown status item ${item}`);
    if (!items.includes(item as StatusItem)) items.push(item as StatusItem);
  } while (cursor.acceptSp());
  cursor.expect(")");
  return items;
}

export function parseStatusArguments(cursor: CommandCursor, tag: string): StatusCommand {
  cursor.sp();
  const mailbox = cursor.mailbox();
  cursor.sp();
  return { tag, name: "STATUS", uid: false, mailbox, items: parseStatusItems(cursor) };
}
