/**
 * Message search: a typed criteria tree compiled to ONE SQL condition over the
 * messages columns (subject, from_addr, ..., internal_date, size, flags,
 * keywords, modseq, uid), so a SEARCH is one indexed query per mailbox.
 *
 * The tree speaks of stored columns only. What a protocol knows and the store
 * does not (IMAP sequence numbers, \Recent, the saved result "$", matches found
 * by reading message text) reaches the store already resolved to UID lists
 * (`{ kind: "uids" }`).
 */
import type { Queryable } from "../db.ts";
import { fullTextSql, resolveVocabulary, vocabularyPatterns } from "../search/fulltext.ts";

/** Header fields with a decoded column of their own (filled at delivery by libs/mime). */
export const INDEXED_HEADER_COLUMNS = {
  subject: "subject",
  from: "from_addr",
  to: "to_addr",
  cc: "cc_addr",
  bcc: "bcc_addr",
  "message-id": "message_id",
  "in-reply-to": "in_reply_to",
} as const;

export type IndexedHeader = keyof typeof INDEXED_HEADER_COLUMNS;

/** The indexed header a field name (any case) has a column for, or undefined. */
export function indexedHeader(field: string): IndexedHeader | undefined {
  const lower = field.toLowerCase();
  return Object.hasOwn(INDEXED_HEADER_COLUMNS, lower) ? (lower as IndexedHeader) : undefined;
}

export type MessageCriterion =
  | { readonly kind: "all" }
  | { readonly kind: "none" }
  /** The message's UID is in the list. */
  | { readonly kind: "uids"; readonly uids: readonly number[] }
  /** set: any of the system-flag bits (flags.ts) is set; otherwise none is. */
  | { readonly kind: "flags"; readonly bits: number; readonly set: boolean }
  /** The message carries the keyword (compared case-insensitively, RFC 9051 §2.3.2). */
  | { readonly kind: "keyword"; readonly keyword: string }
  /** The decoded header contains the value, case-insensitively. */
  | { readonly kind: "header"; readonly field: IndexedHeader; readonly value: string }
  /**
   * SEARCH BODY/TEXT through the full-text index (libs/store search/): the
   * indexed messages whose text contains the value, or a UID of `scanned`
   * (the matches among the messages the caller had to read, search/rows.ts unindexedIn).
   */
  | {
      readonly kind: "fullText";
      /** "header": any header field contains it (a HEADER key's candidates, checked further by the caller). */
      readonly scope: "body" | "text" | "header";
      readonly value: string;
      readonly scanned: readonly number[];
    }
  /** INTERNALDATE's calendar day in UTC against a day (yyyy-mm-dd), without time (RFC 9051 §6.4.4). */
  | { readonly kind: "internalDate"; readonly op: "before" | "on" | "since"; readonly day: string }
  | { readonly kind: "size"; readonly op: "larger" | "smaller"; readonly octets: number }
  /** INTERNALDATE at least (older) or at most (younger) this many seconds ago (RFC 5032). */
  | { readonly kind: "age"; readonly op: "older" | "younger"; readonly seconds: number }
  /** MODSEQ at least this (RFC 7162 §3.1.5). */
  | { readonly kind: "modseq"; readonly atLeast: bigint }
  | { readonly kind: "not"; readonly operand: MessageCriterion }
  | { readonly kind: "or"; readonly left: MessageCriterion; readonly right: MessageCriterion }
  | { readonly kind: "and"; readonly operands: readonly MessageCriterion[] };

export interface CompiledSearch {
  /** An SQL condition over the messages columns; its parameters start at $2 ($1 is the mailbox id). */
  where: string;
  params: unknown[];
}

const DATE_OPERATORS = { before: "<", on: "=", since: ">=" } as const;

/**
 * All of `criteria` must match (an empty list matches every message).
 * `vocabulary`: the full-text keys' vocabulary ids (fullTextVocabulary);
 * a pattern not in it reads the bodies instead of the words.
 */
export function compileSearch(
  criteria: readonly MessageCriterion[],
  vocabulary: ReadonlyMap<string, readonly number[] | null> = new Map(),
): CompiledSearch {
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length + 1}`;
  };
  const contains = (column: string, value: string) =>
    `strpos(lower(coalesce(${column}, '')), lower(${param(value)})) > 0`;
  const all = (list: readonly MessageCriterion[]) =>
    list.length ? list.map((c) => `(${translate(c)})`).join(" AND ") : "TRUE";

  const translate = (c: MessageCriterion): string => {
    switch (c.kind) {
      case "all":
        return "TRUE";
      case "none":
        return "FALSE";
      case "uids":
        return `uid = ANY(${param(c.uids)}::bigint[])`;
      case "flags":
        return `flags & ${c.bits} ${c.set ? "<>" : "="} 0`;
      case "keyword":
        return `EXISTS (SELECT 1 FROM unnest(keywords) k WHERE lower(k) = lower(${param(c.keyword)}))`;
      case "header":
        return contains(INDEXED_HEADER_COLUMNS[c.field], c.value);
      case "fullText": {
        const indexed = fullTextSql(c.scope, c.value, param, vocabulary);
        return c.scanned.length ? `(${indexed} OR uid = ANY(${param(c.scanned)}::bigint[]))` : indexed;
      }
      case "internalDate":
        return `(internal_date AT TIME ZONE 'UTC')::date ${DATE_OPERATORS[c.op]} ${param(c.day)}::date`;
      case "size":
        return `size ${c.op === "larger" ? ">" : "<"} ${param(c.octets)}`;
      case "age":
        return c.op === "older"
          ? `internal_date <= now() - make_interval(secs => ${param(c.seconds)})`
          : `internal_date >= now() - make_interval(secs => ${param(c.seconds)})`;
      case "modseq":
        return `modseq >= ${param(c.atLeast.toString())}::bigint`;
      case "not":
        return `NOT (${translate(c.operand)})`;
      case "or":
        return `((${translate(c.left)}) OR (${translate(c.right)}))`;
      case "and":
        return all(c.operands);
    }
  };
  return { where: all(criteria), params };
}

/** UIDs (ascending) of the mailbox's messages matching every criterion, in one query. */
export async function searchUids(
  db: Queryable,
  mailboxId: number,
  criteria: readonly MessageCriterion[],
): Promise<number[]> {
  const { where, params } = compileSearch(criteria, await fullTextVocabulary(db, criteria));
  const { rows } = await db.query<{ uid: number }>(
    `SELECT uid FROM messages WHERE mailbox_id = $1 AND (${where}) ORDER BY uid`,
    [mailboxId, ...params],
  );
  return rows.map((r) => r.uid);
}

/** The vocabulary words of every full-text key in `criteria`, in one statement (none without such a key). */
export function fullTextVocabulary(
  db: Queryable,
  criteria: readonly MessageCriterion[],
): Promise<Map<string, readonly number[] | null>> {
  const patterns: string[] = [];
  const walk = (c: MessageCriterion): void => {
    if (c.kind === "fullText") patterns.push(...vocabularyPatterns(c.scope, c.value));
    else if (c.kind === "not") walk(c.operand);
    else if (c.kind === "or") {
      walk(c.left);
      walk(c.right);
    } else if (c.kind === "and") c.operands.forEach(walk);
  };
  criteria.forEach(walk);
  return resolveVocabulary(db, patterns);
}
