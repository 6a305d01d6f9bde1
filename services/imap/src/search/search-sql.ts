/**
 * SEARCH keys (RFC 9051 §6.4.4) as one SQL condition over the decoded columns
 * (subject, from_addr, ..., header_date, internal_date, size, flags, keywords, uid).
 *
 * Sequence numbers and \Recent are session state, so they become UID lists.
 * BODY and TEXT (and HEADER on fields without a column) need the message text:
 * they are translated to `uid = ANY($n)` whose list `textMatches` computes by
 * reading the candidates' blobs (text-search.ts). Dates compare calendar days in
 * UTC, without time (RFC 9051 §6.4.4).
 */
import type { SearchDate, SearchKey } from "@aerogram/imap-protocol";
import { encodeFlags } from "@aerogram/store";
import type { SelectedMailbox } from "../selected-mailbox.ts";

export interface TextCondition {
  readonly kind: "body" | "text" | "header";
  readonly field?: string;
  readonly value: string;
  /** Index of the parameter that receives the matching UIDs. */
  readonly param: number;
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
  readonly param: number;
}

export interface SearchQuery {
  where: string;
  params: unknown[];
  textConditions: TextCondition[];
  sentDateConditions: SentDateCondition[];
}

const COLUMN_OF_HEADER: Record<string, string> = {
  subject: "subject",
  from: "from_addr",
  to: "to_addr",
  cc: "cc_addr",
  bcc: "bcc_addr",
  "message-id": "message_id",
  "in-reply-to": "in_reply_to",
};

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

export function buildSearchQuery(
  keys: readonly SearchKey[],
  view: SelectedMailbox,
  saved: readonly number[] | null,
): SearchQuery {
  // $1 is the mailbox id (ImapMessages.searchUids).
  const params: unknown[] = [];
  const textConditions: TextCondition[] = [];
  const sentDateConditions: SentDateCondition[] = [];
  const sent = (op: SentDateCondition["op"], date: SearchDate) => {
    const placeholder = param([]);
    sentDateConditions.push({ op, date: isoDate(date), param: params.length - 1 });
    return `uid = ANY(${placeholder}::bigint[])`;
  };
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length + 1}`;
  };
  const recentUids = () => view.allUids().filter((uid) => view.isRecent(uid));
  const contains = (column: string, value: string) =>
    `strpos(lower(coalesce(${column}, '')), lower(${param(value)})) > 0`;

  const translate = (key: SearchKey): string => {
    switch (key.key) {
      case "ALL":
        return "TRUE";
      case "NEW":
        return `(uid = ANY(${param(recentUids())}::bigint[]) AND flags & 1 = 0)`;
      case "RECENT":
        return `uid = ANY(${param(recentUids())}::bigint[])`;
      case "OLD":
        return `NOT uid = ANY(${param(recentUids())}::bigint[])`;
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
        const [bit, set] = FLAG_BITS[key.key]!;
        return `flags & ${bit} ${set ? "<>" : "="} 0`;
      }
      case "KEYWORD":
      case "UNKEYWORD": {
        const { bits, keywords } = encodeFlags([key.flag]);
        const has = bits
          ? `flags & ${bits} <> 0`
          : keywords.length
            ? `EXISTS (SELECT 1 FROM unnest(keywords) k WHERE lower(k) = lower(${param(keywords[0])}))`
            : "FALSE";
        return key.key === "KEYWORD" ? has : `NOT (${has})`;
      }
      case "FROM":
        return contains("from_addr", key.value);
      case "TO":
        return contains("to_addr", key.value);
      case "CC":
        return contains("cc_addr", key.value);
      case "BCC":
        return contains("bcc_addr", key.value);
      case "SUBJECT":
        return contains("subject", key.value);
      case "BODY":
      case "TEXT": {
        const placeholder = param([]);
        textConditions.push({
          kind: key.key === "BODY" ? "body" : "text",
          value: key.value,
          param: params.length - 1,
        });
        return `uid = ANY(${placeholder}::bigint[])`;
      }
      case "HEADER": {
        const column = COLUMN_OF_HEADER[key.field.toLowerCase()];
        if (column && key.value !== "") return contains(column, key.value);
        const placeholder = param([]);
        textConditions.push({ kind: "header", field: key.field, value: key.value, param: params.length - 1 });
        return `uid = ANY(${placeholder}::bigint[])`;
      }
      case "BEFORE":
        return `(internal_date AT TIME ZONE 'UTC')::date < ${param(isoDate(key.date))}::date`;
      case "ON":
        return `(internal_date AT TIME ZONE 'UTC')::date = ${param(isoDate(key.date))}::date`;
      case "SINCE":
        return `(internal_date AT TIME ZONE 'UTC')::date >= ${param(isoDate(key.date))}::date`;
      case "SENTBEFORE":
        return sent("before", key.date);
      case "SENTON":
        return sent("on", key.date);
      case "SENTSINCE":
        return sent("since", key.date);
      case "LARGER":
        return `size > ${param(key.size)}`;
      case "SMALLER":
        return `size < ${param(key.size)}`;
      case "UID":
        return `uid = ANY(${param(view.resolve(key.set, true, saved).uids)}::bigint[])`;
      case "SEQUENCE":
        return `uid = ANY(${param(view.resolve(key.set, false, saved).uids)}::bigint[])`;
      case "OLDER":
        return `internal_date <= now() - make_interval(secs => ${param(key.seconds)})`;
      case "YOUNGER":
        return `internal_date >= now() - make_interval(secs => ${param(key.seconds)})`;
      case "MODSEQ":
        return `modseq >= ${param(key.modseq.toString())}::bigint`;
      case "NOT":
        return `NOT (${translate(key.operand)})`;
      case "OR":
        return `((${translate(key.left)}) OR (${translate(key.right)}))`;
      case "AND":
        return key.operands.length ? key.operands.map((k) => `(${translate(k)})`).join(" AND ") : "TRUE";
    }
  };
  const where = keys.length ? keys.map((k) => `(${translate(k)})`).join(" AND ") : "TRUE";
  return { where, params, textConditions, sentDateConditions };
}
