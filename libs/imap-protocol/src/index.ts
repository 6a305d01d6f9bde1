// @aerogram/imap-protocol: the IMAP wire layer, without sockets.
//   reader.ts   CommandReader: bytes → framed commands, literals (streamed when large), raw lines
//   parser.ts   parseCommand: framed command → typed Command (ast.ts) or a BAD/NO error
//   commands.ts COMMAND_TABLE: valid states and sequence-number rules per command
//   writer.ts   responses as Buffer / StreamLiteral chunks; response-codes.ts, imap-value.ts
export * from "./ast.ts";
export { isValidAtom, isValidTag } from "./charset.ts";
export * from "./commands.ts";
export type { MailboxEncoding } from "./cursor.ts";
export { formatDateTime, MONTH_NAMES, parseDateTime, parseSearchDate } from "./date-time.ts";
export { fetchResponseName, formatSection } from "./fetch-response-name.ts";
export type * from "./framed-command.ts";
export * from "./imap-value.ts";
export * from "./mutf7.ts";
export { FETCH_MACROS } from "./parse-fetch.ts";
export { SYSTEM_FLAGS } from "./parse-flags.ts";
export { SUPPORTED_SEARCH_CHARSETS } from "./parse-search.ts";
export * from "./parser.ts";
export * from "./reader.ts";
export * from "./response-codes.ts";
export type * from "./search-key.ts";
export * from "./sequence-set.ts";
export * from "./writer.ts";
