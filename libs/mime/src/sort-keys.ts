// SORT (RFC 5256), SORT=DISPLAY (RFC 5957) and THREAD (RFC 5256 §3) keys of
// a message, computed once from its index so SORT is an ORDER BY over stored
// columns. Keys are compared as octets after i;unicode-casemap (RFC 5051):
// titlecase (here: uppercase, the same for every script SORT users meet) and
// a full compatibility decomposition; the store orders them COLLATE "C".
import type { Address } from "./address.ts";
import { decodeEncodedWords } from "./encoded-word.ts";
import type { MessageIndex } from "./types.ts";

export interface SortKeys {
  /** RFC 5256 §2.1 base subject, casemapped. */
  baseSubject: string;
  /** addr-mailbox of the first From/To/Cc address, casemapped (RFC 5256 §3 SORT FROM/TO/CC). */
  fromMailbox: string;
  toMailbox: string;
  ccMailbox: string;
  /** RFC 5957 §3 DISPLAYFROM/DISPLAYTO: decoded display-name, else the addr-spec; casemapped. */
  displayFrom: string;
  displayTo: string;
  /** RFC 5256 §2.1 "the subject is a reply or forward": a leader or trailer was removed. */
  isReplyOrForward: boolean;
}

/** i;unicode-casemap (RFC 5051 §2) approximated: uppercase, then NFKD. */
export function casemap(s: string): string {
  return s.toUpperCase().normalize("NFKD");
}

const WSP = /[ \t]/;

/** RFC 5256 §2.1: the base subject of a decoded subject, and whether it was a reply/forward. */
export function baseSubject(decoded: string): { base: string; replyOrForward: boolean } {
  // (1) whitespace runs (tabs, folds) become one space
  let s = decoded.replace(/[\t\r\n ]+/g, " ");
  let replyOrForward = false;
  for (;;) {
    // (2) remove trailing subj-trailer: "(fwd)" / WSP
    for (;;) {
      const before = s;
      s = s.replace(/ +$/, "");
      if (/\(fwd\)$/i.test(s)) {
        s = s.slice(0, -5);
        replyOrForward = true;
      }
      if (s === before) break;
    }
    // (3)+(4) repeat: remove subj-leader, then a leading subj-blob if something remains
    for (;;) {
      const before = s;
      for (;;) {
        const leader = subjLeader(s);
        if (leader === 0) break;
        if (/^\s*(\[[^[\]]*\]\s*)*(re|fwd?)/i.test(s.slice(0, leader))) replyOrForward = true;
        s = s.slice(leader);
      }
      const blob = /^\[[^[\]]*\] */.exec(s);
      if (blob && s.length > blob[0].length) s = s.slice(blob[0].length);
      if (s === before) break;
    }
    // (5) "[fwd:" ... "]" wrapper
    if (/^\[fwd:/i.test(s) && s.endsWith("]")) {
      s = s.slice(5, -1);
      replyOrForward = true;
      continue;
    }
    break;
  }
  return { base: s, replyOrForward };
}

/** Length of a subj-leader at the start of s: (*subj-blob subj-refwd) / WSP, or 0. */
function subjLeader(s: string): number {
  if (s.length && WSP.test(s[0]!)) return 1;
  let i = 0;
  // *subj-blob
  for (;;) {
    const m = /^\[[^[\]]*\][ \t]*/.exec(s.slice(i));
    if (!m) break;
    i += m[0].length;
  }
  // subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
  const m = /^(re|fwd?)[ \t]*(\[[^[\]]*\][ \t]*)?:/i.exec(s.slice(i));
  return m ? i + m[0].length : 0;
}

/**
 * The first address of a list as IMAP's ENVELOPE has it: a group's start
 * (mailbox = the group's name, host NIL) counts, so "To: team: a@b;" sorts
 * as "team" (Dovecot does the same; imaptest's sort-addresses and
 * sort-display-to expect it).
 */
function firstAddress(list: Address[] | null): Address | null {
  for (const a of list ?? []) if (a.mailbox !== null) return a;
  return null;
}

function mailboxOf(a: Address | null): string {
  return a ? casemap(a.mailbox ?? "") : "";
}

function displayOf(a: Address | null): string {
  if (!a) return "";
  const name = a.name === null ? "" : decodeEncodedWords(a.name).trim();
  if (name !== "") return casemap(name);
  // RFC 5957 §3: without a display-name, the addr-spec (mailbox@host); a group, its name
  return casemap(a.host === null ? (a.mailbox ?? "") : `${a.mailbox ?? ""}@${a.host}`);
}

export function sortKeys(index: MessageIndex): SortKeys {
  const env = index.envelope;
  const { base, replyOrForward } = baseSubject(index.search.subject);
  const from = firstAddress(env.from);
  const to = firstAddress(env.to);
  return {
    baseSubject: casemap(base),
    fromMailbox: mailboxOf(from),
    toMailbox: mailboxOf(to),
    ccMailbox: mailboxOf(firstAddress(env.cc)),
    displayFrom: displayOf(from),
    displayTo: displayOf(to),
    isReplyOrForward: replyOrForward,
  };
}
