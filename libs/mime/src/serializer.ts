// IMAP string syntax (RFC 3501 §4.3 / RFC 9051 §4.3) and the ENVELOPE and
// BODY/BODYSTRUCTURE serialisers (RFC 3501 §7.4.2 / RFC 9051 §7.5.2).
//
// All strings here are byte strings: one char per octet (latin1), so that
// 8-bit header bytes pass through untouched and literal lengths are octet
// counts. Write the result with Buffer.from(s, "latin1") (see imapBytes).
// Quoting follows the reference server byte for byte: a quoted string unless
// the value has CR, LF, 8-bit octets or more than four chars needing escapes,
// in which case a literal {n}\r\n is used.
import type { Address } from "./address.ts";
import type { Param } from "./params.ts";

/** Most quoted-specials escaped in a quoted string before a literal is used instead. */
const QUOTED_MAX_ESCAPES = 4;

export interface Envelope {
  date: string | null;
  subject: string | null;
  from: Address[] | null;
  sender: Address[] | null;
  replyTo: Address[] | null;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

export interface Disposition {
  type: string;
  params: Param[];
}

/** One node of BODY/BODYSTRUCTURE; strings are byte strings. */
export interface BodyStructure {
  /** "multipart" for multiparts (not written: only the subtype is). */
  type: string;
  subtype: string;
  /** Content-Type parameters; written as NIL when empty (for text/* a default charset is added). */
  params: Param[];
  id: string | null;
  description: string | null;
  /** Content-Transfer-Encoding as sent, null for the default "7bit". */
  encoding: string | null;
  /** Body size in octets. */
  size: number;
  /** Body lines: written for text/* and message/rfc822 only. */
  lines: number;
  md5: string | null;
  disposition: Disposition | null;
  language: string[] | null;
  location: string | null;
  /** message/rfc822: the encapsulated message's envelope and structure. */
  envelope?: Envelope;
  body?: BodyStructure;
  /** multipart: the parts (an empty list is written as one empty text/plain part). */
  parts?: BodyStructure[];
}

/** Octets to send for a byte string produced here. */
export function imapBytes(s: string): Buffer {
  return Buffer.from(s, "latin1");
}

export function imapLiteral(s: string): string {
  return `{${s.length}}\r\n${s}`;
}

/** Quoted string, dropping what a quoted string can't carry (CR, LF, 8-bit). */
export function imapQuoted(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c >= 0x80) continue;
    if (c === 0x22 || c === 0x5c) out += "\\";
    out += s[i];
  }
  return `${out}"`;
}

/** string: quoted, or a literal when the value needs it. */
export function imapString(s: string): string {
  let escapes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      if (escapes++ < QUOTED_MAX_ESCAPES) continue;
      return imapLiteral(s);
    }
    if (c === 0x0d || c === 0x0a || c >= 0x80) return imapLiteral(s);
  }
  return imapQuoted(s);
}

/** nstring: NIL for null, else imapString. */
export function imapNString(s: string | null | undefined): string {
  return s === null || s === undefined ? "NIL" : imapString(s);
}

/**
 * nstring of an unfolded header value: CR and LF are removed, and a space is
 * put where a line break was not followed by whitespace.
 */
export function imapNStringNoLf(s: string | null | undefined): string {
  if (s === null || s === undefined) return "NIL";
  if (!s.includes("\r") && !s.includes("\n")) return imapString(s);
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x0d && c !== 0x0a) {
      out += s[i];
      continue;
    }
    const n = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    if (n !== 0x20 && n !== 0x09 && n !== 0x0d && n !== 0x0a && n !== 0) out += " ";
  }
  return imapString(out);
}

function isLwspOrNl(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * A string meant for humans (subject, display names): runs of whitespace
 * and line breaks become one space, leading/trailing whitespace is dropped,
 * NUL becomes 0x80; quoted when nothing had to change, else a literal.
 */
export function imapStringForHumans(src: string): string {
  let modify = false;
  let lastLwsp = true;
  let wsPrefix = true;
  let remove = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 0) {
      lastLwsp = false;
      modify = true;
    } else if (isLwspOrNl(c)) {
      if (c !== 0x20) modify = true;
      if (lastLwsp) {
        modify = true;
        remove++;
      }
      lastLwsp = true;
    } else {
      if (c === 0x22 || c === 0x5c || c >= 0x80) modify = true;
      lastLwsp = false;
    }
    if (!lastLwsp) wsPrefix = false;
  }
  if (lastLwsp && src.length > 0 && !wsPrefix) {
    modify = true;
    remove++;
  }
  if (!modify) return `"${src}"`;
  if (remove === src.length) return '""';
  let out = "";
  lastLwsp = true;
  wsPrefix = true;
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 0) {
      out += "\x80";
      lastLwsp = false;
    } else if (isLwspOrNl(c)) {
      if (!lastLwsp) out += " ";
      lastLwsp = true;
    } else {
      out += src[i];
      lastLwsp = false;
    }
    if (!lastLwsp) wsPrefix = false;
  }
  if (lastLwsp && src.length > 0 && !wsPrefix) out = out.slice(0, -1);
  return imapLiteral(out);
}

/** Address list: NIL or ((name adl mailbox host) ...). */
export function serializeAddresses(list: Address[] | null): string {
  if (list === null || list.length === 0) return "NIL";
  let out = "(";
  for (const a of list) {
    out += `(${a.name === null ? "NIL" : imapStringForHumans(a.name)} ${imapNString(a.adl)} ${imapNString(a.mailbox)} ${imapNString(a.host)})`;
  }
  return `${out})`;
}

/** ENVELOPE, with its enclosing parentheses. Sender and Reply-To default to From. */
export function serializeEnvelope(env: Envelope): string {
  return (
    `(${imapNStringNoLf(env.date)} ${env.subject === null ? "NIL" : imapStringForHumans(env.subject)}` +
    ` ${serializeAddresses(env.from)} ${serializeAddresses(env.sender ?? env.from)}` +
    ` ${serializeAddresses(env.replyTo ?? env.from)} ${serializeAddresses(env.to)}` +
    ` ${serializeAddresses(env.cc)} ${serializeAddresses(env.bcc)}` +
    ` ${imapNStringNoLf(env.inReplyTo)} ${imapNStringNoLf(env.messageId)})`
  );
}

function serializeParams(params: Param[], defaultCharset: boolean): string {
  if (params.length === 0 && !defaultCharset) return "NIL";
  const items: string[] = [];
  let seenCharset = false;
  for (const [k, v] of params) {
    if (defaultCharset && k.toLowerCase() === "charset") seenCharset = true;
    items.push(`${imapString(k)} ${imapString(v)}`);
  }
  // RFC 2045 §5.2: text/* without a charset is us-ascii
  if (defaultCharset && !seenCharset) items.push('"charset" "us-ascii"');
  return `(${items.join(" ")})`;
}

/** body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 3501 §9 body-ext-1part). */
function serializeExtensionTail(bs: BodyStructure): string {
  const dsp =
    bs.disposition === null
      ? "NIL"
      : `(${imapString(bs.disposition.type)} ${serializeParams(bs.disposition.params, false)})`;
  const lang = bs.language === null ? "NIL" : `(${bs.language.map(imapString).join(" ")})`;
  return ` ${dsp} ${lang} ${imapNStringNoLf(bs.location)}`;
}

const EMPTY_BODY = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)';
const EMPTY_BODYSTRUCTURE = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)';

function serializeNode(bs: BodyStructure, ext: boolean): string {
  if (bs.parts !== undefined) {
    let out = "";
    if (bs.parts.length === 0) out = ext ? EMPTY_BODYSTRUCTURE : EMPTY_BODY;
    for (const p of bs.parts) out += `(${serializeNode(p, ext)})`;
    out += ` ${imapString(bs.subtype)}`;
    if (!ext) return out;
    // multipart extension data: body-fld-param, then dsp, lang, loc
    return `${out} ${serializeParams(bs.params, false)}${serializeExtensionTail(bs)}`;
  }
  const isMessage = bs.body !== undefined && bs.envelope !== undefined;
  const isText = !isMessage && bs.type.toLowerCase() === "text";
  let out = `${imapString(bs.type)} ${imapString(bs.subtype)} ${serializeParams(bs.params, isText)}`;
  out += ` ${imapNStringNoLf(bs.id)} ${imapNStringNoLf(bs.description)}`;
  out += ` ${bs.encoding === null ? '"7bit"' : imapString(bs.encoding)} ${bs.size}`;
  if (isText) out += ` ${bs.lines}`;
  else if (isMessage) {
    out += ` ${serializeEnvelope(bs.envelope!)} (${serializeNode(bs.body!, ext)}) ${bs.lines}`;
  }
  if (!ext) return out;
  return `${out} ${imapNStringNoLf(bs.md5)}${serializeExtensionTail(bs)}`;
}

/**
 * BODYSTRUCTURE (extensible: true) or BODY (extensible: false), with the
 * enclosing parentheses. Every extension field is present, NIL when absent.
 */
export function serializeBodyStructure(bs: BodyStructure, opts: { extensible: boolean }): string {
  return `(${serializeNode(bs, opts.extensible)})`;
}
