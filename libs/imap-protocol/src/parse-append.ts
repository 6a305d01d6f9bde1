// APPEND (RFC 9051 §6.3.12, MULTIAPPEND RFC 3502, BINARY RFC 3516, UTF8=ACCEPT RFC 6855):
//   append         = "APPEND" SP mailbox 1*append-message
//   append-message = append-opts SP append-data
//   append-opts    = [SP flag-list] [SP date-time]
//   append-data    = literal / literal8 / "UTF8" SP "(" literal8 ")"
// The message octets are whatever the reader framed: buffered in the command, or
// already streamed to the host (see reader.ts). They are not inspected here.

import type { AppendCommand, AppendData, AppendMessage, ImapDateTime } from "./ast.ts";
import type { CommandCursor } from "./cursor.ts";
import { parseDateTime } from "./date-time.ts";
import { parseFlagList } from "./parse-flags.ts";

function appendData(cursor: CommandCursor): AppendData {
  if (!cursor.atString() || cursor.peek() === 0x22) cursor.fail("APPEND message must be a literal");
  const literal = cursor.literal();
  if (literal.kind === "streamed") return literal;
  return { kind: "buffered", data: literal.data, binary: literal.binary };
}

export function parseAppendArguments(cursor: CommandCursor, tag: string): AppendCommand {
  cursor.sp();
  const mailbox = cursor.mailbox();
  const messages: AppendMessage[] = [];
  do {
    cursor.sp();
    let flags: string[] = [];
    let internalDate: ImapDateTime | null = null;
    if (cursor.peek() === 0x28 /* ( */) {
      flags = parseFlagList(cursor);
      cursor.sp();
    }
    if (cursor.peek() === 0x22 /* " */) {
      const text = cursor.quoted().toString("latin1");
      internalDate = parseDateTime(text);
      if (!internalDate) cursor.fail(`Invalid date-time "${text}"`);
      cursor.sp();
    }
    let utf8 = false;
    let data: AppendData;
    if (cursor.acceptKeyword("UTF8")) {
      utf8 = true;
      cursor.sp();
      cursor.expect("(");
      if (cursor.peek() !== 0x7e /* ~ */) cursor.fail("UTF8 APPEND data must be a literal8");
      data = appendData(cursor);
      cursor.expect(")");
    } else {
      data = appendData(cursor);
    }
    messages.push({ flags, internalDate, data, utf8 });
  } while (!cursor.atEnd());
  return { tag, name: "APPEND", uid: false, mailbox, messages };
}
