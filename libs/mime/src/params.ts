// Content-Type / Content-Disposition / Content-Transfer-Encoding /
// Content-Language value parsing (RFC 2045 §5.1, RFC 2183, RFC 3282) with
// RFC 2231 parameter continuations and charsets.
//
// Parameters are kept the way IMAP reports them in BODYSTRUCTURE: names as
// written, RFC 2231 continuations (name*0, name*1*, ...) merged into one
// parameter; when any segment was extended the merged name ends in "*" and
// the value stays in RFC 2231 form (charset'lang'%XX..) for the client to
// decode — the same answer Dovecot gives. decodeParamValue() produces the
// decoded text for our own use (filenames, charset).
import { decodeCharset } from "./charset.ts";
import { Rfc822Parser } from "./rfc822.ts";

export type Param = [name: string, value: string];

export interface ContentType {
  /** Type as written, "" when unparseable (null: no usable Content-Type). */
  type: string;
  subtype: string;
  params: Param[];
}

/** Parses ";" name "=" value pairs; see parseParams. */
function parseContentParam(p: Rfc822Parser): { ret: number; key: string; value: string } {
  if (p.pos >= p.end) return { ret: 0, key: "", value: "" };
  if (p.peek() !== 0x3b) return { ret: -1, key: "", value: "" };
  p.pos++;
  if (p.skipLwsp() <= 0) return { ret: -1, key: "", value: "" };
  const key: [string] = [""];
  if (p.parseMimeToken(key) <= 0) return { ret: -1, key: "", value: "" };
  if (p.peek() !== 0x3d) return { ret: -1, key: "", value: "" };
  p.pos++;
  const value: [string] = [""];
  let ret = p.skipLwsp();
  if (ret <= 0) {
    // broken / no value
  } else if (p.peek() === 0x22) {
    ret = p.parseQuotedString(value);
  } else if (p.peek() === 0x3d) {
    // workaround for broken senders: name==?utf-8?b?...?=
    const d = p.data;
    const start = p.pos;
    while (p.pos < p.end) {
      const c = d.charCodeAt(p.pos);
      if (c === 0x3b || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) break;
      p.pos++;
    }
    value[0] = d.slice(start, p.pos);
  } else {
    ret = p.parseMimeToken(value);
  }
  return { ret: ret < 0 ? -1 : 1, key: key[0], value: value[0] };
}

interface Rfc2231Segment {
  key: string;
  value: string;
  idx: number;
  extended: boolean;
}

/** RFC 2231 §4: "%" in a non-extended segment merged with extended ones. */
function escapePercent(s: string): string {
  return s.replaceAll("%", "%25");
}

/**
 * Parses all parameters following the current position and merges RFC 2231
 * continuations (§3). Segments with missing indexes are returned unmerged.
 * Invalid pieces are skipped up to the next ";".
 */
export function parseParams(p: Rfc822Parser): Param[] {
  const result: Param[] = [];
  const segments: Rfc2231Segment[] = [];
  p.nulReplacement = "\xef\xbf\xbd";
  for (let guard = 0; guard < 10000; guard++) {
    const { ret, key, value } = parseContentParam(p);
    if (ret === 0) break;
    if (ret < 0) {
      if (p.pos >= p.end) break;
      p.pos++;
      continue;
    }
    const star = key.indexOf("*");
    if (star < 0) {
      result.push([key, value]);
      continue;
    }
    let i = star + 1;
    let idx = 0;
    while (i < key.length && key.charCodeAt(i) >= 0x30 && key.charCodeAt(i) <= 0x39) {
      idx = idx * 10 + key.charCodeAt(i) - 0x30;
      i++;
    }
    if (star + 1 === key.length) {
      // "name*": extended, single segment
      segments.push({ key: key.slice(0, star), value, idx: 0, extended: true });
      continue;
    }
    let extended = false;
    if (key.charCodeAt(i) === 0x2a) {
      extended = true;
      i++;
    }
    if (i !== key.length) result.push([key, value]);
    else segments.push({ key: key.slice(0, star), value, idx, extended });
  }
  p.nulReplacement = null;
  if (segments.length === 0) return result;

  segments.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.idx - b.idx));
  for (let i = 0; i < segments.length; ) {
    const first = segments[i]!;
    const lkey = first.key.toLowerCase();
    let j = i;
    let ok = true;
    let haveExtended = false;
    for (let nextIdx = 0; j < segments.length && segments[j]!.key.toLowerCase() === lkey; j++, nextIdx++) {
      if (segments[j]!.idx !== nextIdx) ok = false;
      if (segments[j]!.extended) haveExtended = true;
    }
    if (!ok) {
      for (let k = i; k < j; k++) {
        const s = segments[k]!;
        result.push([`${s.key}*${s.idx}${s.extended ? "*" : ""}`, s.value]);
      }
    } else {
      let v = !first.extended && haveExtended ? "''" : "";
      for (let k = i; k < j; k++) {
        const s = segments[k]!;
        v += !s.extended && haveExtended ? escapePercent(s.value) : s.value;
      }
      result.push([haveExtended ? `${first.key}*` : first.key, v]);
    }
    i = j;
  }
  return result;
}

/**
 * Content-Type (RFC 2045 §5.1). An unparseable value yields what could be
 * read of it (possibly type "" subtype ""), and no parameters.
 */
export function parseContentType(value: string): ContentType {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const str: [string] = [""];
  // type "/" subtype, each one token
  if (p.skipLwsp() > 0 && p.parseMimeToken(str) > 0 && str[0] !== "") {
    if (p.peek() !== 0x2f) {
      str[0] = "";
    } else {
      p.pos++;
      if (p.skipLwsp() <= 0) {
        str[0] = "";
      } else {
        const type = str[0];
        str[0] += "/";
        const sub: [string] = [""];
        const ret = p.parseMimeToken(sub);
        if (ret < 0 || sub[0] === "" || (p.pos < p.end && p.peek() !== 0x3b)) {
          str[0] = "";
        } else {
          return { type, subtype: sub[0], params: parseParams(p) };
        }
      }
    }
  }
  const slash = str[0].indexOf("/");
  return slash < 0
    ? { type: str[0], subtype: "", params: [] }
    : { type: str[0].slice(0, slash), subtype: str[0].slice(slash + 1), params: [] };
}

/** Content-Transfer-Encoding (RFC 2045 §6.1): the token, or null. */
export function parseTransferEncoding(value: string): string | null {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const str: [string] = [""];
  if (p.parseMimeToken(str) >= 0 && p.skipLwsp() === 0 && str[0] !== "") return str[0];
  return null;
}

/** Content-Disposition (RFC 2183): type token and parameters, or null. */
export function parseDisposition(value: string): { type: string; params: Param[] } | null {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const str: [string] = [""];
  if (p.parseMimeToken(str) < 0) return null;
  return { type: str[0], params: parseParams(p) };
}

/** Content-Language (RFC 3282): comma separated atoms; null when none. */
export function parseLanguage(value: string): string[] | null {
  const p = new Rfc822Parser(value);
  const langs: string[] = [];
  p.skipLwsp();
  for (;;) {
    const str: [string] = [""];
    if (p.parseAtom(str) < 0) break;
    langs.push(str[0]);
    if (p.pos >= p.end || p.peek() !== 0x2c) break;
    p.pos++;
    p.skipLwsp();
  }
  return langs.length > 0 ? langs : null;
}

/** Finds a parameter by name, case-insensitively, also in its RFC 2231 "name*" form. */
export function findParam(params: Param[], name: string): Param | undefined {
  const lname = name.toLowerCase();
  let ext: Param | undefined;
  for (const prm of params) {
    const k = prm[0].toLowerCase();
    if (k === lname) return prm;
    if (ext === undefined && k === `${lname}*`) ext = prm;
  }
  return ext;
}

/**
 * Decoded text of a parameter: RFC 2231 §4 charset'language'%XX form when
 * the name ends in "*", otherwise RFC 2047 encoded-words (which broken but
 * common mailers put in filenames) via the supplied decoder.
 */
export function decodeParamValue(param: Param, decodeWords: (v: string) => string): string {
  const [name, value] = param;
  if (!name.endsWith("*")) return decodeWords(value);
  const q1 = value.indexOf("'");
  const q2 = q1 < 0 ? -1 : value.indexOf("'", q1 + 1);
  if (q2 < 0) return decodeWords(value);
  const charset = value.slice(0, q1);
  const bytes = Buffer.from(
    value
      .slice(q2 + 1)
      .replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    "latin1",
  );
  return decodeCharset(bytes, charset === "" ? "us-ascii" : charset);
}
