// SEARCH arguments (RFC 9051 §6.4.4, RFC 3501 §6.4.4):
//   search        = "SEARCH" [search-return-opts] SP search-program
//   search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
//   search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
// with MODSEQ (RFC 7162 §3.1.5), OLDER/YOUNGER (RFC 5032) and "$" (RFC 5182).

import type { SearchCommand, SearchReturnOption } from "./ast.ts";
import { type CommandCursor, decodeUtf8 } from "./cursor.ts";
import { parseSearchDate } from "./date-time.ts";
import { ParseError } from "./parse-error.ts";
import { parseSequenceSet } from "./parse-sequence-set.ts";
import type { DateSearchKeyName, FlagSearchKeyName, SearchKey, TextSearchKeyName } from "./search-key.ts";

/** Charsets we search in; anything else gets NO [BADCHARSET] (RFC 9051 §6.4.4). */
export const SUPPORTED_SEARCH_CHARSETS = ["US-ASCII", "UTF-8"] as const;

/** Deepest nesting of parentheses, NOT and OR accepted (bounds recursion). */
const MAX_SEARCH_DEPTH = 64;

const FLAG_KEYS = new Set<string>([
  "ALL",
  "ANSWERED",
  "DELETED",
  "DRAFT",
  "FLAGGED",
  "NEW",
  "OLD",
  "RECENT",
  "SEEN",
  "UNANSWERED",
  "UNDELETED",
  "UNDRAFT",
  "UNFLAGGED",
  "UNSEEN",
]);
const TEXT_KEYS = new Set<string>(["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"]);
const DATE_KEYS = new Set<string>(["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"]);
const KEYS_WITH_ARGUMENTS = new Set<string>([
  "KEYWORD",
  "UNKEYWORD",
  "LARGER",
  "SMALLER",
  "HEADER",
  "UID",
  "OLDER",
  "YOUNGER",
  "NOT",
  "OR",
  "MODSEQ",
]);
const RETURN_OPTIONS = new Set<string>(["MIN", "MAX", "ALL", "COUNT", "SAVE"]);

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

export function parseSearchArguments(cursor: CommandCursor, tag: string, uid: boolean): SearchCommand {
  cursor.sp();
  let returnOptions: SearchReturnOption[] | null = null;
  if (cursor.acceptKeyword("RETURN")) {
    returnOptions = parseSearchReturnOptions(cursor);
    cursor.sp();
  }
  let charset: string | null = null;
  if (cursor.acceptKeyword("CHARSET")) {
    cursor.sp();
    charset = parseSearchCharset(cursor);
    cursor.sp();
  }
  const criteria: SearchKey[] = [parseSearchKey(cursor, 0)];
  while (cursor.acceptSp()) criteria.push(parseSearchKey(cursor, 0));
  return { tag, name: "SEARCH", uid, charset, returnOptions, criteria };
}

/**
 * A search charset (astring) that the server supports, upper-cased. An unknown one is a tagged NO
 * with the BADCHARSET response code listing what is supported (RFC 3501 §6.4.4, RFC 9051 §7.1).
 */
export function parseSearchCharset(cursor: CommandCursor): string {
  const charset = (
    cursor.peek() === 0x22 ? cursor.quoted().toString("latin1") : cursor.atom("charset")
  ).toUpperCase();
  if (!(SUPPORTED_SEARCH_CHARSETS as readonly string[]).includes(charset)) {
    throw new ParseError(
      `Unsupported charset ${charset}`,
      "NO",
      `BADCHARSET (${SUPPORTED_SEARCH_CHARSETS.join(" ")})`,
    );
  }
  return charset;
}

export function parseSearchReturnOptions(cursor: CommandCursor): SearchReturnOption[] {
  cursor.sp();
  cursor.expect("(");
  const options: SearchReturnOption[] = [];
  if (!cursor.accept(")")) {
    do {
      const option = cursor.atom("search return option").toUpperCase();
      if (!RETURN_OPTIONS.has(option)) cursor.fail(`Unknown search return option ${option}`);
      if (!options.includes(option as SearchReturnOption)) options.push(option as SearchReturnOption);
    } while (cursor.acceptSp());
    cursor.expect(")");
  }
  // RFC 9051 §6.4.4: "RETURN ()" is the same as "RETURN (ALL)".
  return options.length === 0 ? ["ALL"] : options;
}

function searchString(cursor: CommandCursor): string {
  return decodeUtf8(cursor.astring("search string"), "Search string");
}

function searchDate(cursor: CommandCursor) {
  const text = cursor.peek() === 0x22 ? cursor.quoted().toString("latin1") : cursor.atom("date");
  const date = parseSearchDate(text);
  if (!date) cursor.fail(`Invalid date "${text}"`);
  return date;
}

export function parseSearchKey(cursor: CommandCursor, depth: number): SearchKey {
  if (depth > MAX_SEARCH_DEPTH) cursor.fail("Search criteria nested too deeply");
  const first = cursor.peek();
  if (first === 0x28 /* ( */) {
    cursor.skip(1);
    const operands: SearchKey[] = [parseSearchKey(cursor, depth + 1)];
    while (cursor.acceptSp()) operands.push(parseSearchKey(cursor, depth + 1));
    if (!cursor.accept(")")) cursor.fail("Missing ) in search criteria");
    return operands.length === 1 ? operands[0]! : { key: "AND", operands };
  }
  if (isDigit(first) || first === 0x2a /* * */ || first === 0x24 /* $ */) {
    return { key: "SEQUENCE", set: parseSequenceSet(cursor) };
  }
  const name = cursor.atom("search key").toUpperCase();
  if (FLAG_KEYS.has(name)) return { key: name as FlagSearchKeyName };
  if (!TEXT_KEYS.has(name) && !DATE_KEYS.has(name) && !KEYS_WITH_ARGUMENTS.has(name)) {
    cursor.fail(`Unknown search key ${name}`);
  }
  cursor.sp();
  if (TEXT_KEYS.has(name)) return { key: name as TextSearchKeyName, value: searchString(cursor) };
  if (DATE_KEYS.has(name)) return { key: name as DateSearchKeyName, date: searchDate(cursor) };
  switch (name) {
    case "KEYWORD":
    case "UNKEYWORD":
      return { key: name, flag: cursor.atom("keyword") };
    case "LARGER":
    case "SMALLER":
      return { key: name, size: cursor.number64("size") };
    case "HEADER": {
      const field = decodeUtf8(cursor.astring("header field name"), "Header field name");
      cursor.sp();
      return { key: "HEADER", field, value: searchString(cursor) };
    }
    case "UID":
      return { key: "UID", set: parseSequenceSet(cursor) };
    case "OLDER":
    case "YOUNGER":
      return { key: name, seconds: cursor.nzNumber("interval") };
    case "NOT":
      return { key: "NOT", operand: parseSearchKey(cursor, depth + 1) };
    case "OR": {
      const left = parseSearchKey(cursor, depth + 1);
      cursor.sp();
      return { key: "OR", left, right: parseSearchKey(cursor, depth + 1) };
    }
    default: // "MODSEQ", the last of KEYS_WITH_ARGUMENTS
      return parseModseqKey(cursor);
  }
}

// search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
// search-modseq-ext  = SP entry-name SP entry-type-req      (RFC 7162 §7)
function parseModseqKey(cursor: CommandCursor): SearchKey {
  if (cursor.peek() === 0x22 /* " */) {
    const name = decodeUtf8(cursor.quoted(), "Entry name");
    if (!name.toLowerCase().startsWith("/flags/")) cursor.fail("MODSEQ entry name must be /flags/<flag>");
    cursor.sp();
    const type = cursor.atom("entry type").toLowerCase();
    if (type !== "priv" && type !== "shared" && type !== "all") cursor.fail(`Invalid entry type ${type}`);
    cursor.sp();
    return { key: "MODSEQ", modseq: cursor.modseq("mod-sequence value", true), entry: { name, type } };
  }
  return { key: "MODSEQ", modseq: cursor.modseq("mod-sequence value", true), entry: null };
}
