/**
 * SEARCH keys (RFC 9051 §6.4.4) as the store's typed search criteria
 * (libs/store messages/search.ts), which the store compiles to one SQL query.
 *
 * Sequence numbers, \Recent and the saved result "$" are session state, so
 * they become UID lists here. BODY and TEXT go to the full-text index
 * (libs/store search/) inside the same query; the command adds, before the
 * query, the matches among messages the index doesn't cover yet, found by
 * reading their blobs (text-search.ts). HEADER on a field without a column
 * becomes a UID list: the messages whose indexed header text contains the
 * value, checked field by field on their blobs.
 * Dates compare calendar days in UTC, without time (RFC 9051 §6.4.4).
 */
import type { SearchDate, SearchKey } from "@aerogram/imap-protocol";
import { encodeFlags, indexedHeader, type MessageCriterion } from "@aerogram/store";
import type { SelectedMailbox } from "../selected-mailbox.ts";

export interface TextCondition {
  readonly kind: "body" | "text" | "header";
  readonly field?: string;
  readonly value: string;
  /** The matching UIDs, filled by the command before the criteria reach the store. */
  readonly uids: number[];
}

/**
 * SENTBEFORE/SENTON/SENTSINCE compare the Date header's calendar day as written,
 * in the sender's zone (RFC 9051 §6.4.4; Dovecot agrees) — which the UTC
 * header_date column has lost, so they are evaluated on the stored ENVELOPE's date
 * text (sent-date.ts) and become UID lists like the text conditions.
 */
export interface SentDateCondition {
  readonly op: "before" | "on" | "since";
  /** yyyy-mm-dd */
  readonly date: string;
  /** The matching UIDs, filled by the command before the criteria reach the store. */
  readonly uids: number[];
}

/** BODY/TEXT through the index; `scanned` is filled with the matches among unindexed messages. */
export interface FullTextCondition {
  readonly kind: "body" | "text";
  readonly value: string;
  readonly scanned: number[];
}

export interface SearchPlan {
  criteria: MessageCriterion[];
  fullTextConditions: FullTextCondition[];
  textConditions: TextCondition[];
  sentDateConditions: SentDateCondition[];
}

const FLAG_BITS: Record<string, [number, boolean]> = {
  ANSWERED: [2, true],
  DELETED: [8, true],
  DRAFT: [16, true],
  FLAGGED: [4, true],
  SEEN: [1, true],
  UNANSWERED: [2, false],
  UNDELETED: [8, false],
  UNDRAFT: [16, false],
  UNFLAGGED: [4, false],
  UNSEEN: [1, false],
};

function isoDate(d: SearchDate): string {
  return `${d.year}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`;
}

export function planSearch(
  keys: readonly SearchKey[],
  view: SelectedMailbox,
  saved: readonly number[] | null,
): SearchPlan {
  const textConditions: TextCondition[] = [];
  const fullTextConditions: FullTextCondition[] = [];
  const sentDateConditions: SentDateCondition[] = [];
  const sent = (op: SentDateCondition["op"], date: SearchDate): MessageCriterion => {
    const condition: SentDateCondition = { op, date: isoDate(date), uids: [] };
    sentDateConditions.push(condition);
    return { kind: "uids", uids: condition.uids };
  };
  const scan = (condition: Omit<TextCondition, "uids">): MessageCriterion => {
    const withUids: TextCondition = { ...condition, uids: [] };
    textConditions.push(withUids);
    return { kind: "uids", uids: withUids.uids };
  };
  const recent = (): MessageCriterion => ({
    kind: "uids",
    uids: view.allUids().filter((uid) => view.isRecent(uid)),
  });

  const translate = (key: SearchKey): MessageCriterion => {
    switch (key.key) {
      case "ALL":
        return { kind: "all" };
      case "NEW":
        return { kind: "and", operands: [recent(), { kind: "flags", bits: 1, set: false }] };
      case "RECENT":
        return recent();
      case "OLD":
        return { kind: "not", operand: recent() };
      case "ANSWERED":
      case "DELETED":
      case "DRAFT":
      case "FLAGGED":
      case "SEEN":
      case "UNANSWERED":
      case "UNDELETED":
      case "UNDRAFT":
      case "UNFLAGGED":
      case "UNSEEN": {
        const [bits, set] = FLAG_BITS[key.key]!;
        return { kind: "flags", bits, set };
      }
      case "KEYWORD":
      case "UNKEYWORD": {
        const { bits, keywords } = encodeFlags([key.flag]);
        const has: MessageCriterion = bits
          ? { kind: "flags", bits, set: true }
          : keywords.length
            ? { kind: "keyword", keyword: keywords[0]! }
            : { kind: "none" };
        return key.key === "KEYWORD" ? has : { kind: "not", operand: has };
      }
      case "FROM":
        return { kind: "header", field: "from", value: key.value };
      case "TO":
        return { kind: "header", field: "to", value: key.value };
      case "CC":
        return { kind: "header", field: "cc", value: key.value };
      case "BCC":
        return { kind: "header", field: "bcc", value: key.value };
      case "SUBJECT":
        return { kind: "header", field: "subject", value: key.value };
      case "BODY":
      case "TEXT": {
        const condition: FullTextCondition = {
          kind: key.key === "BODY" ? "body" : "text",
          value: key.value,
          scanned: [],
        };
        fullTextConditions.push(condition);
        return { kind: "fullText", scope: condition.kind, value: key.value, scanned: condition.scanned };
      }
      case "HEADER": {
        const field = indexedHeader(key.field);
        if (field && key.value !== "") return { kind: "header", field, value: key.value };
        return scan({ kind: "header", field: key.field, value: key.value });
      }
      case "BEFORE":
        return { kind: "internalDate", op: "before", day: isoDate(key.date) };
      case "ON":
        return { kind: "internalDate", op: "on", day: isoDate(key.date) };
      case "SINCE":
        return { kind: "internalDate", op: "since", day: isoDate(key.date) };
      case "SENTBEFORE":
        return sent("before", key.date);
      case "SENTON":
        return sent("on", key.date);
      case "SENTSINCE":
        return sent("since", key.date);
      case "LARGER":
        return { kind: "size", op: "larger", octets: key.size };
      case "SMALLER":
        return { kind: "size", op: "smaller", octets: key.size };
      case "UID":
        return { kind: "uids", uids: view.resolve(key.set, true, saved).uids };
      case "SEQUENCE":
        return { kind: "uids", uids: view.resolve(key.set, false, saved).uids };
      case "OLDER":
        return { kind: "age", op: "older", seconds: key.seconds };
      case "YOUNGER":
        return { kind: "age", op: "younger", seconds: key.seconds };
      case "MODSEQ":
        return { kind: "modseq", atLeast: key.modseq };
      case "NOT":
        return { kind: "not", operand: translate(key.operand) };
      case "OR":
        return { kind: "or", left: translate(key.left), right: translate(key.right) };
      case "AND":
        return { kind: "and", operands: key.operands.map(translate) };
    }
  };
  return { criteria: keys.map(translate), fullTextConditions, textConditions, sentDateConditions };
}
