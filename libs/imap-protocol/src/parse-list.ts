// LIST, LSUB and XLIST (RFC 9051 §6.3.9, RFC 3501 §6.3.8-9, LIST-EXTENDED RFC 5258,
// LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154):
//   list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
//   list-select-opts = "(" [list-select-option *(SP list-select-option)] ")"
//   mbox-or-pat      = list-mailbox / patterns
//   patterns         = "(" list-mailbox *(SP list-mailbox) ")"
//   list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
//   list-mailbox     = 1*list-char / string
// The reference and patterns are decoded like mailbox names but not INBOX-normalised:
// matching INBOX case-insensitively is the host's job (RFC 9051 §6.3.9).

import type { ListCommand, ListReturnOptions, ListSelectionOption, LsubCommand, StatusItem } from "./ast.ts";
import { isListChar } from "./charset.ts";
import type { CommandCursor } from "./cursor.ts";
import { parseStatusItems } from "./parse-status.ts";

const SELECTION_OPTIONS = new Set<string>(["SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"]);

function listMailbox(cursor: CommandCursor): string {
  const bytes = cursor.atString()
    ? cursor.string()
    : Buffer.from(cursor.token(isListChar, "mailbox pattern"), "latin1");
  return cursor.decodeMailboxBytes(bytes, true);
}

function reference(cursor: CommandCursor): string {
  return cursor.decodeMailboxBytes(cursor.astring("reference name"), true);
}

export function parseListArguments(cursor: CommandCursor, tag: string): ListCommand {
  cursor.sp();
  let extended = false;
  const selectionOptions: ListSelectionOption[] = [];
  if (cursor.accept("(")) {
    extended = true;
    if (!cursor.accept(")")) {
      do {
        const option = cursor.atom("selection option").toUpperCase();
        if (!SELECTION_OPTIONS.has(option)) cursor.fail(`Unknown LIST selection option ${option}`);
        if (!selectionOptions.includes(option as ListSelectionOption)) {
          selectionOptions.push(option as ListSelectionOption);
        }
      } while (cursor.acceptSp());
      cursor.expect(")");
    }
    // RFC 5258 §3.1: RECURSIVEMATCH alone is an error; it modifies another option.
    if (selectionOptions.includes("RECURSIVEMATCH") && selectionOptions.length === 1) {
      cursor.fail("RECURSIVEMATCH requires another selection option");
    }
    cursor.sp();
  }
  const ref = reference(cursor);
  cursor.sp();
  const patterns: string[] = [];
  if (cursor.accept("(")) {
    extended = true;
    do patterns.push(listMailbox(cursor));
    while (cursor.acceptSp());
    cursor.expect(")");
  } else {
    patterns.push(listMailbox(cursor));
  }
  let returnOptions: ListReturnOptions = {
    subscribed: false,
    children: false,
    specialUse: false,
    status: null,
  };
  if (cursor.acceptSp()) {
    if (!cursor.acceptKeyword("RETURN")) cursor.fail("Expected RETURN");
    extended = true;
    cursor.sp();
    returnOptions = parseReturnOptions(cursor);
  }
  return {
    tag,
    name: "LIST",
    uid: false,
    reference: ref,
    patterns,
    selectionOptions,
    returnOptions,
    extended,
  };
}

function parseReturnOptions(cursor: CommandCursor): ListReturnOptions {
  let subscribed = false;
  let children = false;
  let specialUse = false;
  let status: StatusItem[] | null = null;
  cursor.expect("(");
  if (!cursor.accept(")")) {
    do {
      const option = cursor.atom("return option").toUpperCase();
      if (option === "SUBSCRIBED") subscribed = true;
      else if (option === "CHILDREN") children = true;
      else if (option === "SPECIAL-USE") specialUse = true;
      else if (option === "STATUS") {
        cursor.sp();
        status = parseStatusItems(cursor);
      } else cursor.fail(`Unknown LIST return option ${option}`);
    } while (cursor.acceptSp());
    cursor.expect(")");
  }
  return { subscribed, children, specialUse, status };
}

export function parseLsubArguments(cursor: CommandCursor, tag: string, name: "LSUB" | "XLIST"): LsubCommand {
  cursor.sp();
  const ref = reference(cursor);
  cursor.sp();
  return { tag, name, uid: false, reference: ref, pattern: listMailbox(cursor) };
}
