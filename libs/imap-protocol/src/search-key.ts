// SEARCH criteria as data, RFC 9051 §6.4.4 and RFC 3501 §6.4.4, plus MODSEQ (RFC 7162
// §3.1.5) and OLDER/YOUNGER (RFC 5032). The parser lives in parse-search.ts.

import type { SequenceSet } from "./sequence-set.ts";

/** A calendar date as in SEARCH's `date` (no time, no zone). */
export interface SearchDate {
  readonly year: number;
  /** 1-12. */
  readonly month: number;
  readonly day: number;
}

export type FlagSearchKeyName =
  | "ALL"
  | "ANSWERED"
  | "DELETED"
  | "DRAFT"
  | "FLAGGED"
  | "NEW"
  | "OLD"
  | "RECENT"
  | "SEEN"
  | "UNANSWERED"
  | "UNDELETED"
  | "UNDRAFT"
  | "UNFLAGGED"
  | "UNSEEN";

export type TextSearchKeyName = "BCC" | "BODY" | "CC" | "FROM" | "SUBJECT" | "TEXT" | "TO";

export type DateSearchKeyName = "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE";

export type SearchKey =
  | { readonly key: FlagSearchKeyName }
  | { readonly key: "KEYWORD" | "UNKEYWORD"; readonly flag: string }
  | { readonly key: TextSearchKeyName; readonly value: string }
  | { readonly key: DateSearchKeyName; readonly date: SearchDate }
  | { readonly key: "LARGER" | "SMALLER"; readonly size: number }
  | { readonly key: "HEADER"; readonly field: string; readonly value: string }
  | { readonly key: "UID"; readonly set: SequenceSet }
  | { readonly key: "SEQUENCE"; readonly set: SequenceSet }
  | { readonly key: "OLDER" | "YOUNGER"; readonly seconds: number }
  | {
      readonly key: "MODSEQ";
      readonly modseq: bigint;
      /** The flag metadata entry, e.g. "/flags/\\draft", with its type. */
      readonly entry: { readonly name: string; readonly type: "priv" | "shared" | "all" } | null;
    }
  | { readonly key: "NOT"; readonly operand: SearchKey }
  | { readonly key: "OR"; readonly left: SearchKey; readonly right: SearchKey }
  /** A parenthesised list: all must match. */
  | { readonly key: "AND"; readonly operands: readonly SearchKey[] };
