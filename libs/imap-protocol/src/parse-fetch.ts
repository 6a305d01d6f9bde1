// FETCH arguments (RFC 9051 §6.4.5, RFC 3501 §6.4.5):
//   fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
//           "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
//   fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
//               "BODY" ["STRUCTURE"] / "UID" / "BODY" section [partial] /
//               "BODY.PEEK" section [partial] / "BINARY" [".PEEK"] section-binary [partial] /
//               "BINARY.SIZE" section-binary / "MODSEQ" / "PREVIEW" [SP "(" "LAZY" ")"]
//   section   = "[" [section-spec] "]"
//   partial   = "<" number "." nz-number ">"
// fetch-modifiers (RFC 7162 §3.1.4, §3.2.6): "(" CHANGEDSINCE n / VANISHED ")".

import type { BodySection, FetchCommand, FetchItem, Partial, SimpleFetchAttribute } from "./ast.ts";
import type { CommandCursor } from "./cursor.ts";
import { parseSequenceSet } from "./parse-sequence-set.ts";

const SIMPLE_ATTRIBUTES = new Set<string>([
  "FLAGS",
  "INTERNALDATE",
  "RFC822.SIZE",
  "ENVELOPE",
  "BODY",
  "BODYSTRUCTURE",
  "UID",
  "MODSEQ",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
  "SAVEDATE",
  "EMAILID",
  "THREADID",
]);

const attribute = (name: SimpleFetchAttribute): FetchItem => ({ kind: "attribute", name });

/** RFC 9051 §6.4.5 macros. */
export const FETCH_MACROS: Readonly<Record<"ALL" | "FAST" | "FULL", readonly FetchItem[]>> = {
  FAST: [attribute("FLAGS"), attribute("INTERNALDATE"), attribute("RFC822.SIZE")],
  ALL: [attribute("FLAGS"), attribute("INTERNALDATE"), attribute("RFC822.SIZE"), attribute("ENVELOPE")],
  FULL: [
    attribute("FLAGS"),
    attribute("INTERNALDATE"),
    attribute("RFC822.SIZE"),
    attribute("ENVELOPE"),
    attribute("BODY"),
  ],
};

function isNameChar(byte: number): boolean {
  // Letters, digits and "." — stops at "[", "<", SP and ")".
  return (
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2e
  );
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

export function parseFetchArguments(cursor: CommandCursor, tag: string, uid: boolean): FetchCommand {
  cursor.sp();
  const sequenceSet = parseSequenceSet(cursor);
  cursor.sp();
  let items: FetchItem[];
  let macro: FetchCommand["macro"] = null;
  if (cursor.accept("(")) {
    items = [parseFetchItem(cursor)];
    while (cursor.acceptSp()) items.push(parseFetchItem(cursor));
    cursor.expect(")");
  } else {
    const upper = cursor.peekUpper(4);
    const macroName = (["ALL", "FAST", "FULL"] as const).find(
      (m) => upper.startsWith(m) && !isNameChar(cursor.peek(m.length)) && cursor.peek(m.length) !== 0x5b,
    );
    if (macroName) {
      cursor.skip(macroName.length);
      macro = macroName;
      items = [...FETCH_MACROS[macroName]];
    } else {
      items = [parseFetchItem(cursor)];
    }
  }
  let changedSince: bigint | null = null;
  let vanished = false;
  if (cursor.acceptSp()) {
    cursor.expect("(");
    do {
      const modifier = cursor.atom("fetch modifier").toUpperCase();
      if (modifier === "CHANGEDSINCE" && changedSince === null) {
        cursor.sp();
        changedSince = cursor.modseq("CHANGEDSINCE value", true);
      } else if (modifier === "VANISHED" && !vanished) {
        vanished = true;
      } else {
        cursor.fail(`Unknown or repeated fetch modifier ${modifier}`);
      }
    } while (cursor.acceptSp());
    cursor.expect(")");
  }
  // RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only together with CHANGEDSINCE.
  if (vanished && (!uid || changedSince === null)) {
    cursor.fail("VANISHED requires UID FETCH with CHANGEDSINCE");
  }
  return { tag, name: "FETCH", uid, sequenceSet, items, macro, changedSince, vanished };
}

export function parseFetchItem(cursor: CommandCursor): FetchItem {
  const name = cursor.token(isNameChar, "fetch attribute").toUpperCase();
  switch (name) {
    case "BODY":
    case "BODY.PEEK": {
      if (cursor.peek() !== 0x5b /* [ */) {
        if (name === "BODY.PEEK") cursor.fail("BODY.PEEK requires a section");
        return attribute("BODY");
      }
      const section = parseSection(cursor);
      return { kind: "body-section", peek: name === "BODY.PEEK", section, partial: parsePartial(cursor) };
    }
    case "BINARY":
    case "BINARY.PEEK": {
      const part = parseBinarySection(cursor);
      return { kind: "binary", peek: name === "BINARY.PEEK", part, partial: parsePartial(cursor) };
    }
    case "BINARY.SIZE":
      return { kind: "binary-size", part: parseBinarySection(cursor) };
    case "PREVIEW": {
      // RFC 8970: "PREVIEW" [SP "(" "LAZY" ")"]
      if (cursor.peekUpper(7) === " (LAZY)") {
        cursor.skip(7);
        return { kind: "preview", lazy: true };
      }
      return { kind: "preview", lazy: false };
    }
    default:
      if (!SIMPLE_ATTRIBUTES.has(name)) cursor.fail(`Unknown fetch attribute ${name}`);
      return attribute(name as SimpleFetchAttribute);
  }
}

/** section-part = nz-number *("." nz-number); stops before a "." that is not followed by a digit. */
function parsePartNumbers(cursor: CommandCursor): number[] {
  const part: number[] = [];
  while (isDigit(cursor.peek())) {
    part.push(cursor.nzNumber("section part"));
    if (cursor.peek() === 0x2e && isDigit(cursor.peek(1))) cursor.skip(1);
    else break;
  }
  return part;
}

// section-spec = section-msgtext / (section-part ["." section-text])
// section-text = section-msgtext / "MIME"
export function parseSection(cursor: CommandCursor): BodySection {
  cursor.expect("[");
  const part = parsePartNumbers(cursor);
  let text: BodySection["text"] = null;
  if (cursor.peek() !== 0x5d /* ] */) {
    if (part.length > 0) cursor.expect(".");
    const keyword = cursor.token(isNameChar, "section text").toUpperCase();
    switch (keyword) {
      case "HEADER":
      case "TEXT":
        text = { kind: keyword };
        break;
      case "MIME":
        // RFC 9051 §6.4.5: MIME is only meaningful for a part number.
        if (part.length === 0) cursor.fail("MIME requires a part number");
        text = { kind: "MIME" };
        break;
      case "HEADER.FIELDS":
      case "HEADER.FIELDS.NOT": {
        cursor.sp();
        text = { kind: "HEADER.FIELDS", not: keyword.endsWith(".NOT"), fields: parseHeaderList(cursor) };
        break;
      }
      default:
        cursor.fail(`Unknown section ${keyword}`);
    }
  }
  cursor.expect("]");
  return { part, text };
}

// header-list = "(" header-fld-name *(SP header-fld-name) ")"; header-fld-name = astring
function parseHeaderList(cursor: CommandCursor): string[] {
  cursor.expect("(");
  const fields: string[] = [];
  do {
    const bytes = cursor.astring("header field name");
    // RFC 5322 §3.6.8: field names are printable US-ASCII other than ":".
    for (const byte of bytes) {
      if (byte < 0x21 || byte > 0x7e || byte === 0x3a) cursor.fail("Invalid header field name");
    }
    fields.push(bytes.toString("latin1"));
  } while (cursor.acceptSp());
  cursor.expect(")");
  return fields;
}

// section-binary = "[" [section-part] "]"  (RFC 3516 §4.3, RFC 9051 §9)
function parseBinarySection(cursor: CommandCursor): number[] {
  cursor.expect("[");
  const part = parsePartNumbers(cursor);
  cursor.expect("]");
  return part;
}

function parsePartial(cursor: CommandCursor): Partial | null {
  if (!cursor.accept("<")) return null;
  const offset = cursor.number("partial offset");
  cursor.expect(".");
  const length = cursor.nzNumber("partial length");
  cursor.expect(">");
  return { offset, length };
}
