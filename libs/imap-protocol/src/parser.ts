// Command parser: a framed command (reader.ts) in, a typed Command (ast.ts) out.
//
//   command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
//                                                                  (RFC 9051 §9)
// Simple commands are parsed here; each larger grammar has its own parse-*.ts file.
// parseCommand never throws on bad input: it returns { ok: false, error } with the tag
// when one could be read, ready for `${tag ?? "*"} BAD message`.

import type {
  AclCommand,
  AuthenticateCommand,
  Command,
  CopyMoveCommand,
  EnableCommand,
  ExpungeCommand,
  IdCommand,
  LoginCommand,
  MailboxCommand,
  RenameCommand,
  SimpleCommand,
} from "./ast.ts";
import { CommandCursor, decodeUtf8, type MailboxEncoding } from "./cursor.ts";
import type { FramedCommand } from "./framed-command.ts";
import { parseAppendArguments } from "./parse-append.ts";
import { ParseError } from "./parse-error.ts";
import { parseFetchArguments } from "./parse-fetch.ts";
import { parseListArguments, parseLsubArguments } from "./parse-list.ts";
import { parseCreateArguments, parseSelectArguments } from "./parse-mailbox-commands.ts";
import { parseSearchArguments } from "./parse-search.ts";
import { parseSequenceSet } from "./parse-sequence-set.ts";
import { parseCompressArguments, parseSortArguments, parseThreadArguments } from "./parse-sort.ts";
import { parseStatusArguments } from "./parse-status.ts";
import { parseStoreArguments } from "./parse-store.ts";

export interface ParserOptions {
  /**
   * How mailbox names are encoded on the wire: "mutf7" for IMAP4rev1 clients
   * (RFC 3501 §5.1.3), "utf8" once IMAP4rev2 or UTF8=ACCEPT is enabled (RFC 6855 §3).
   */
  readonly mailboxEncoding?: MailboxEncoding;
}

export interface CommandParseError {
  /** The tag when it was valid; null means answer with "*". */
  readonly tag: string | null;
  /** Upper-cased command name as far as it could be read ("" when not). */
  readonly commandName: string;
  readonly status: "BAD" | "NO";
  /** Response code text without brackets, or null. */
  readonly responseCode: string | null;
  readonly message: string;
}

export type ParseResult =
  | { readonly ok: true; readonly command: Command }
  | { readonly ok: false; readonly error: CommandParseError };

type Parse = (cursor: CommandCursor, tag: string) => Command;

const NO_ARGUMENTS: readonly SimpleCommand["name"][] = [
  "CAPABILITY",
  "NOOP",
  "LOGOUT",
  "STARTTLS",
  "CHECK",
  "CLOSE",
  "UNSELECT",
  "IDLE",
  "NAMESPACE",
];

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const COMMAND_PARSERS = new Map<string, Parse>([
  ...NO_ARGUMENTS.map((name): [string, Parse] => [name, (_cursor, tag) => ({ tag, name, uid: false })]),
  ["AUTHENTICATE", parseAuthenticate],
  ["LOGIN", parseLogin],
  ["ENABLE", parseEnable],
  ["SELECT", (cursor, tag) => parseSelectArguments(cursor, tag, "SELECT")],
  ["EXAMINE", (cursor, tag) => parseSelectArguments(cursor, tag, "EXAMINE")],
  ["CREATE", parseCreateArguments],
  ["DELETE", (cursor, tag) => parseMailboxOnly(cursor, tag, "DELETE")],
  ["SUBSCRIBE", (cursor, tag) => parseMailboxOnly(cursor, tag, "SUBSCRIBE")],
  ["UNSUBSCRIBE", (cursor, tag) => parseMailboxOnly(cursor, tag, "UNSUBSCRIBE")],
  ["GETQUOTAROOT", (cursor, tag) => parseMailboxOnly(cursor, tag, "GETQUOTAROOT")],
  ["GETQUOTA", parseGetQuota],
  ["RENAME", parseRename],
  ["LIST", parseListArguments],
  ["LSUB", (cursor, tag) => parseLsubArguments(cursor, tag, "LSUB")],
  ["XLIST", (cursor, tag) => parseLsubArguments(cursor, tag, "XLIST")],
  ["STATUS", parseStatusArguments],
  ["APPEND", parseAppendArguments],
  ["EXPUNGE", (_cursor, tag): ExpungeCommand => ({ tag, name: "EXPUNGE", uid: false, uids: null })],
  ["SEARCH", (cursor, tag) => parseSearchArguments(cursor, tag, false)],
  ["FETCH", (cursor, tag) => parseFetchArguments(cursor, tag, false)],
  ["STORE", (cursor, tag) => parseStoreArguments(cursor, tag, false)],
  ["COPY", (cursor, tag) => parseCopyMove(cursor, tag, "COPY", false)],
  ["MOVE", (cursor, tag) => parseCopyMove(cursor, tag, "MOVE", false)],
  ["ID", parseId],
  ["UID", parseUid],
  ["SORT", (cursor, tag) => parseSortArguments(cursor, tag, false)],
  ["THREAD", (cursor, tag) => parseThreadArguments(cursor, tag, false)],
  ["COMPRESS", parseCompressArguments],
  ["SETACL", (cursor, tag) => parseAcl(cursor, tag, "SETACL")],
  ["DELETEACL", (cursor, tag) => parseAcl(cursor, tag, "DELETEACL")],
  ["GETACL", (cursor, tag) => parseAcl(cursor, tag, "GETACL")],
  ["LISTRIGHTS", (cursor, tag) => parseAcl(cursor, tag, "LISTRIGHTS")],
  ["MYRIGHTS", (cursor, tag) => parseAcl(cursor, tag, "MYRIGHTS")],
]);

const UID_PARSERS = new Map<string, Parse>([
  ["FETCH", (cursor, tag) => parseFetchArguments(cursor, tag, true)],
  ["STORE", (cursor, tag) => parseStoreArguments(cursor, tag, true)],
  ["SEARCH", (cursor, tag) => parseSearchArguments(cursor, tag, true)],
  ["COPY", (cursor, tag) => parseCopyMove(cursor, tag, "COPY", true)],
  ["MOVE", (cursor, tag) => parseCopyMove(cursor, tag, "MOVE", true)],
  ["EXPUNGE", parseUidExpunge],
  ["SORT", (cursor, tag) => parseSortArguments(cursor, tag, true)],
  ["THREAD", (cursor, tag) => parseThreadArguments(cursor, tag, true)],
]);

/** Parses one framed command. Never throws for any input. */
export function parseCommand(framed: FramedCommand, options: ParserOptions = {}): ParseResult {
  const cursor: CommandCursor = new CommandCursor(framed, options.mailboxEncoding ?? "mutf7");
  let tag: string | null = null;
  let commandName = "";
  try {
    const commandTag = cursor.tag();
    if (cursor.atEnd()) tag = commandTag;
    if (cursor.peek() !== 0x20) cursor.fail(cursor.atEnd() ? "Missing command" : "Invalid tag");
    tag = commandTag;
    cursor.sp();
    if (cursor.atEnd()) cursor.fail("Missing command");
    commandName = cursor.atom("command name").toUpperCase();
    const parse = COMMAND_PARSERS.get(commandName);
    if (!parse) cursor.fail(`Unknown command ${commandName}`);
    const command = parse(cursor, commandTag);
    cursor.end();
    return { ok: true, command };
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    return {
      ok: false,
      error: {
        tag,
        commandName: framed.commandName || commandName,
        status: error.status,
        responseCode: error.responseCode,
        message: error.message,
      },
    };
  }
}

function parseUid(cursor: CommandCursor, tag: string): Command {
  cursor.sp();
  const name = cursor.atom("UID command").toUpperCase();
  const parse = UID_PARSERS.get(name);
  if (!parse) cursor.fail(`Unknown UID command ${name}`);
  return parse(cursor, tag);
}

// authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]   (RFC 9051 §6.2.2, RFC 4959)
// initial-resp = base64 / "="
function parseAuthenticate(cursor: CommandCursor, tag: string): AuthenticateCommand {
  cursor.sp();
  const mechanism = cursor.atom("SASL mechanism").toUpperCase();
  let initialResponse: string | null = null;
  if (cursor.acceptSp()) {
    const text = cursor.atom("initial response");
    if (text === "=") initialResponse = "";
    else if (BASE64.test(text)) initialResponse = text;
    else cursor.fail("Initial response is not valid base64");
  }
  return { tag, name: "AUTHENTICATE", uid: false, mechanism, initialResponse };
}

// login = "LOGIN" SP userid SP password; both astring
function parseLogin(cursor: CommandCursor, tag: string): LoginCommand {
  cursor.sp();
  const username = cursor.astringText("user name");
  cursor.sp();
  const password = cursor.astringText("password");
  return { tag, name: "LOGIN", uid: false, username, password };
}

// enable = "ENABLE" 1*(SP capability)   (RFC 5161, RFC 9051 §6.3.1)
function parseEnable(cursor: CommandCursor, tag: string): EnableCommand {
  const capabilities: string[] = [];
  do {
    cursor.sp();
    capabilities.push(cursor.atom("capability").toUpperCase());
  } while (!cursor.atEnd());
  return { tag, name: "ENABLE", uid: false, capabilities };
}

function parseMailboxOnly(cursor: CommandCursor, tag: string, name: MailboxCommand["name"]): MailboxCommand {
  cursor.sp();
  return { tag, name, uid: false, mailbox: cursor.mailbox() };
}

// setacl = "SETACL" SP mailbox SP identifier SP mod-rights; deleteacl / listrights =
// name SP mailbox SP identifier; getacl / myrights = name SP mailbox   (RFC 4314 §8)
function parseAcl(cursor: CommandCursor, tag: string, name: AclCommand["name"]): AclCommand {
  cursor.sp();
  const mailbox = cursor.mailbox();
  let identifier: string | null = null;
  let rights: string | null = null;
  if (name === "SETACL" || name === "DELETEACL" || name === "LISTRIGHTS") {
    cursor.sp();
    identifier = cursor.astringText("identifier");
  }
  if (name === "SETACL") {
    cursor.sp();
    rights = cursor.astringText("rights");
  }
  return { tag, name, uid: false, mailbox, identifier, rights };
}

// getquota = "GETQUOTA" SP quota-root-name; quota-root-name = astring   (RFC 9208 §4.2)
function parseGetQuota(cursor: CommandCursor, tag: string): Command {
  cursor.sp();
  return { tag, name: "GETQUOTA", uid: false, root: cursor.astringText("quota root") };
}

function parseRename(cursor: CommandCursor, tag: string): RenameCommand {
  cursor.sp();
  const from = cursor.mailbox();
  cursor.sp();
  return { tag, name: "RENAME", uid: false, from, to: cursor.mailbox() };
}

// copy = "COPY" SP sequence-set SP mailbox; move = "MOVE" SP sequence-set SP mailbox (RFC 6851)
function parseCopyMove(
  cursor: CommandCursor,
  tag: string,
  name: "COPY" | "MOVE",
  uid: boolean,
): CopyMoveCommand {
  cursor.sp();
  const sequenceSet = parseSequenceSet(cursor);
  cursor.sp();
  return { tag, name, uid, sequenceSet, mailbox: cursor.mailbox() };
}

// uid-expunge = "UID" SP "EXPUNGE" SP sequence-set   (RFC 4315 §2.1, RFC 9051 §6.4.9)
function parseUidExpunge(cursor: CommandCursor, tag: string): ExpungeCommand {
  cursor.sp();
  return { tag, name: "EXPUNGE", uid: true, uids: parseSequenceSet(cursor) };
}

// id = "ID" SP id-params-list; id-params-list = "(" *(string SP nstring) ")" / nil (RFC 2971)
function parseId(cursor: CommandCursor, tag: string): IdCommand {
  cursor.sp();
  if (cursor.acceptKeyword("NIL")) return { tag, name: "ID", uid: false, parameters: null };
  cursor.expect("(");
  const parameters: Array<readonly [string, string | null]> = [];
  if (!cursor.accept(")")) {
    do {
      const field = decodeUtf8(cursor.string(), "ID field");
      cursor.sp();
      parameters.push([field, cursor.nstringText("ID value")]);
    } while (cursor.acceptSp());
    cursor.expect(")");
  }
  return { tag, name: "ID", uid: false, parameters };
}
