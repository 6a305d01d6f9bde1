// Typed AST of parsed IMAP commands: what the gateway's command handlers receive.
// Every command carries its tag, its upper-cased name and whether it came as a UID
// command; the rest is specific to the command. Mailbox names are decoded to Unicode
// (from modified UTF-7 or UTF-8, per the session) with INBOX normalised.

import type { StreamedLiteral } from "./framed-command.ts";
import type { SearchKey } from "./search-key.ts";
import type { SequenceSet } from "./sequence-set.ts";

interface CommandBase {
  readonly tag: string;
  readonly uid: boolean;
}

export interface SimpleCommand extends CommandBase {
  readonly name:
    | "CAPABILITY"
    | "NOOP"
    | "LOGOUT"
    | "STARTTLS"
    | "CHECK"
    | "CLOSE"
    | "UNSELECT"
    | "IDLE"
    | "NAMESPACE";
}

export interface AuthenticateCommand extends CommandBase {
  readonly name: "AUTHENTICATE";
  /** Upper-cased SASL mechanism name. */
  readonly mechanism: string;
  /**
   * SASL-IR initial response (RFC 4959) as sent: base64 text, "" for "=" (an empty
   * response), or null when absent.
   */
  readonly initialResponse: string | null;
}

export interface LoginCommand extends CommandBase {
  readonly name: "LOGIN";
  readonly username: string;
  readonly password: string;
}

export interface EnableCommand extends CommandBase {
  readonly name: "ENABLE";
  /** Upper-cased capability names. */
  readonly capabilities: readonly string[];
}

/** QRESYNC select parameter, RFC 7162 §3.2.5. */
export interface QresyncParameters {
  readonly uidValidity: number;
  readonly modseq: bigint;
  readonly knownUids: SequenceSet | null;
  readonly sequenceMatch: { readonly sequenceNumbers: SequenceSet; readonly uids: SequenceSet } | null;
}

export interface SelectCommand extends CommandBase {
  readonly name: "SELECT" | "EXAMINE";
  readonly mailbox: string;
  readonly condstore: boolean;
  readonly qresync: QresyncParameters | null;
}

export interface CreateCommand extends CommandBase {
  readonly name: "CREATE";
  readonly mailbox: string;
  /** RFC 6154 CREATE-SPECIAL-USE: the flags in (USE (...)), e.g. ["\\Sent"]. */
  readonly specialUse: readonly string[];
}

export interface MailboxCommand extends CommandBase {
  readonly name: "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" | "GETQUOTAROOT";
  readonly mailbox: string;
}

export interface RenameCommand extends CommandBase {
  readonly name: "RENAME";
  readonly from: string;
  readonly to: string;
}

export type StatusItem =
  | "MESSAGES"
  | "RECENT"
  | "UIDNEXT"
  | "UIDVALIDITY"
  | "UNSEEN"
  | "DELETED"
  | "SIZE"
  | "HIGHESTMODSEQ"
  | "APPENDLIMIT"
  | "MAILBOXID";

export type ListSelectionOption = "SUBSCRIBED" | "REMOTE" | "RECURSIVEMATCH" | "SPECIAL-USE";

export interface ListReturnOptions {
  readonly subscribed: boolean;
  readonly children: boolean;
  readonly specialUse: boolean;
  /** LIST-STATUS (RFC 5819) items, or null when STATUS was not requested. */
  readonly status: readonly StatusItem[] | null;
}

export interface ListCommand extends CommandBase {
  readonly name: "LIST";
  readonly reference: string;
  /** One or more patterns (LIST-EXTENDED allows a parenthesised list). */
  readonly patterns: readonly string[];
  readonly selectionOptions: readonly ListSelectionOption[];
  readonly returnOptions: ListReturnOptions;
  /** True when any LIST-EXTENDED syntax was used (RFC 5258 §3: extended response rules). */
  readonly extended: boolean;
}

export interface LsubCommand extends CommandBase {
  readonly name: "LSUB" | "XLIST";
  readonly reference: string;
  readonly pattern: string;
}

export interface StatusCommand extends CommandBase {
  readonly name: "STATUS";
  readonly mailbox: string;
  readonly items: readonly StatusItem[];
}

/** The octets of one APPEND message: in the command, or streamed to the host. */
export type AppendData =
  | { readonly kind: "buffered"; readonly data: Buffer; readonly binary: boolean }
  | StreamedLiteral;

/** An internal date with the sender's zone, as in date-time (RFC 9051 §9). */
export interface ImapDateTime {
  /** The instant. */
  readonly date: Date;
  /** Zone offset of the original text, in minutes east of UTC. */
  readonly zoneMinutes: number;
}

export interface AppendMessage {
  readonly flags: readonly string[];
  readonly internalDate: ImapDateTime | null;
  readonly data: AppendData;
  /** True when sent as UTF8 (literal8), RFC 6855 §4. */
  readonly utf8: boolean;
}

export interface AppendCommand extends CommandBase {
  readonly name: "APPEND";
  readonly mailbox: string;
  /** One message, or several with MULTIAPPEND (RFC 3502). */
  readonly messages: readonly AppendMessage[];
}

export interface ExpungeCommand extends CommandBase {
  readonly name: "EXPUNGE";
  /** UID EXPUNGE's set (RFC 4315 §2.1); null for plain EXPUNGE. */
  readonly uids: SequenceSet | null;
}

export type SearchReturnOption = "MIN" | "MAX" | "ALL" | "COUNT" | "SAVE";

export interface SearchCommand extends CommandBase {
  readonly name: "SEARCH";
  /** Upper-cased CHARSET argument, or null. */
  readonly charset: string | null;
  /**
   * ESEARCH RETURN options (RFC 4731, RFC 9051 §6.4.4), or null when RETURN was not
   * given. `RETURN ()` is returned as ["ALL"] (RFC 9051 §6.4.4).
   */
  readonly returnOptions: readonly SearchReturnOption[] | null;
  /** The criteria; a message matches when it matches all of them. */
  readonly criteria: readonly SearchKey[];
}

export interface FetchCommand extends CommandBase {
  readonly name: "FETCH";
  readonly sequenceSet: SequenceSet;
  /** The items, with a macro (ALL, FAST, FULL) expanded. */
  readonly items: readonly FetchItem[];
  readonly macro: "ALL" | "FAST" | "FULL" | null;
  /** CHANGEDSINCE modifier (RFC 7162 §3.1.4). */
  readonly changedSince: bigint | null;
  /** VANISHED modifier (RFC 7162 §3.2.6), UID FETCH only. */
  readonly vanished: boolean;
}

export interface StoreCommand extends CommandBase {
  readonly name: "STORE";
  readonly sequenceSet: SequenceSet;
  /** FLAGS replaces, +FLAGS adds, -FLAGS removes. */
  readonly action: "replace" | "add" | "remove";
  readonly silent: boolean;
  readonly flags: readonly string[];
  /** UNCHANGEDSINCE modifier (RFC 7162 §3.1.3). */
  readonly unchangedSince: bigint | null;
}

export interface CopyMoveCommand extends CommandBase {
  readonly name: "COPY" | "MOVE";
  readonly sequenceSet: SequenceSet;
  readonly mailbox: string;
}

export interface IdCommand extends CommandBase {
  readonly name: "ID";
  /** Field/value pairs in order (RFC 2971), or null for "ID NIL". */
  readonly parameters: ReadonlyArray<readonly [string, string | null]> | null;
}

export interface GetQuotaCommand extends CommandBase {
  readonly name: "GETQUOTA";
  readonly root: string;
}

export type SortKey =
  | "ARRIVAL"
  | "CC"
  | "DATE"
  | "FROM"
  | "SIZE"
  | "SUBJECT"
  | "TO"
  | "DISPLAYFROM"
  | "DISPLAYTO";

/** SORT / UID SORT (RFC 5256 §3, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT). */
export interface SortCommand extends CommandBase {
  readonly name: "SORT";
  /** ESORT return options (RFC 5267 §3.1; SAVE: RFC 5182), or null without RETURN. */
  readonly returnOptions: readonly SearchReturnOption[] | null;
  readonly sortCriteria: readonly { readonly key: SortKey; readonly reverse: boolean }[];
  /** Upper-cased charset (required by SORT). */
  readonly charset: string;
  readonly criteria: readonly SearchKey[];
}

/** THREAD / UID THREAD (RFC 5256 §3). */
export interface ThreadCommand extends CommandBase {
  readonly name: "THREAD";
  readonly algorithm: "ORDEREDSUBJECT" | "REFERENCES";
  readonly charset: string;
  readonly criteria: readonly SearchKey[];
}

/** COMPRESS (RFC 4978). */
export interface CompressCommand extends CommandBase {
  readonly name: "COMPRESS";
  /** Upper-cased mechanism name (only DEFLATE is known). */
  readonly mechanism: string;
}

/** RFC 4314 §3: SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS. */
export interface AclCommand extends CommandBase {
  readonly name: "SETACL" | "DELETEACL" | "GETACL" | "LISTRIGHTS" | "MYRIGHTS";
  readonly mailbox: string;
  /** SETACL, DELETEACL, LISTRIGHTS: the identifier (astring, as sent). */
  readonly identifier: string | null;
  /** SETACL: the mod-rights astring as sent ("+"/"-" prefix included); the handler validates it. */
  readonly rights: string | null;
}

export type Command =
  | SortCommand
  | ThreadCommand
  | CompressCommand
  | SimpleCommand
  | AclCommand
  | AuthenticateCommand
  | LoginCommand
  | EnableCommand
  | SelectCommand
  | CreateCommand
  | MailboxCommand
  | RenameCommand
  | ListCommand
  | LsubCommand
  | StatusCommand
  | AppendCommand
  | ExpungeCommand
  | SearchCommand
  | FetchCommand
  | StoreCommand
  | CopyMoveCommand
  | IdCommand
  | GetQuotaCommand;

export type CommandName = Command["name"];

type CommandWithName<C, N> = C extends { readonly name: infer M } ? (N extends M ? C : never) : never;

/** The command type(s) a name parses to, e.g. CommandOfName<"EXAMINE"> is SelectCommand. */
export type CommandOfName<N extends CommandName> = CommandWithName<Command, N>;

/** A section of a message, RFC 9051 §6.4.5 `section-spec`. */
export interface BodySection {
  /** Part numbers, e.g. [1, 2] for "1.2"; empty for the whole message. */
  readonly part: readonly number[];
  readonly text:
    | null
    | { readonly kind: "HEADER" }
    | { readonly kind: "TEXT" }
    | { readonly kind: "MIME" }
    | { readonly kind: "HEADER.FIELDS"; readonly not: boolean; readonly fields: readonly string[] };
}

/** `<offset.length>` of a partial fetch. */
export interface Partial {
  readonly offset: number;
  readonly length: number;
}

export type SimpleFetchAttribute =
  | "FLAGS"
  | "INTERNALDATE"
  | "RFC822.SIZE"
  | "ENVELOPE"
  | "BODY"
  | "BODYSTRUCTURE"
  | "UID"
  | "MODSEQ"
  | "RFC822"
  | "RFC822.HEADER"
  | "RFC822.TEXT"
  | "SAVEDATE"
  | "EMAILID"
  | "THREADID";

export type FetchItem =
  | { readonly kind: "attribute"; readonly name: SimpleFetchAttribute }
  | {
      readonly kind: "body-section";
      /** BODY.PEEK: does not set \Seen. */
      readonly peek: boolean;
      readonly section: BodySection;
      readonly partial: Partial | null;
    }
  | {
      readonly kind: "binary";
      readonly peek: boolean;
      readonly part: readonly number[];
      readonly partial: Partial | null;
    }
  | { readonly kind: "binary-size"; readonly part: readonly number[] }
  | { readonly kind: "preview"; readonly lazy: boolean };
