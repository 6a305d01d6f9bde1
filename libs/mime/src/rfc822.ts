// RFC 5322 / RFC 2045 lexer over "byte strings" (one UTF-16 code unit per
// octet, as produced by Buffer#toString("latin1")). It is shared by the
// Content-Type / Content-Disposition parameter parser, the Content-Language
// parser and the address parser.
//
// The tokenising rules deliberately mirror the ones in Dovecot's
// lib-mail/rfc822-parser.c so that BODYSTRUCTURE/ENVELOPE come out byte for
// byte the same as a reference server's on malformed input: every method
// returns 1 when more input follows the token, 0 at end of input, -1 on a
// syntax error (with the position left where the error was seen).

// atext (RFC 5322 §3.2.3) is marked 1, ALPHA/DIGIT (and 8-bit, which real
// mail uses in atoms, RFC 6532) 2, atext that is a MIME tspecial (RFC 2045
// §5.1: "/", "=", "?") 4.
const ATEXT = buildAtextTable();

function buildAtextTable(): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 2;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 2;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 2;
  for (let c = 0x80; c <= 0xff; c++) t[c] = 2;
  for (const ch of "!#$%&'*+-^_`{|}~") t[ch.charCodeAt(0)] = 1;
  for (const ch of "/=?") t[ch.charCodeAt(0)] = 4;
  return t;
}

export function isAtext(c: number): boolean {
  return c < 256 && ATEXT[c] !== 0;
}

function isAtextOrDot(c: number): boolean {
  return c === 0x2e || isAtext(c);
}

/** MIME token character (RFC 2045 §5.1): atext minus tspecials, plus ".". */
export function isMimeTokenChar(c: number): boolean {
  return c < 256 && ((ATEXT[c]! & 3) !== 0 || c === 0x2e);
}

const NUL_REPLACEMENT = "\xef\xbf\xbd"; // U+FFFD in UTF-8, as a byte string

export class Rfc822Parser {
  pos: number;
  readonly end: number;
  /** When non-null, the text of the last comment skipped is collected here. */
  lastComment: string | null;
  nulReplacement: string | null = null;

  constructor(
    readonly data: string,
    collectComments = false,
  ) {
    this.pos = 0;
    this.end = data.length;
    this.lastComment = collectComments ? "" : null;
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  peek(): number {
    return this.pos < this.end ? this.data.charCodeAt(this.pos) : -1;
  }

  /**
   * At a backslash: steps onto the escaped character. -1: input ends there;
   * 0: it is CR, LF or NUL, which a quoted-pair can't escape (obs-qp, RFC 5322
   * §4.1), so the backslash stays as is and pos is back on it; 1: escaped.
   */
  private quotedPair(): number {
    this.pos++;
    if (this.pos >= this.end) return -1;
    const n = this.data.charCodeAt(this.pos);
    if (n === 0x0d || n === 0x0a || n === 0) {
      this.pos--;
      return 0;
    }
    return 1;
  }

  /** At an LF (folding whitespace): where the text before its line ending ends, CR dropped. */
  private beforeLineEnd(start: number): number {
    const e = this.pos;
    return e > start && this.data.charCodeAt(e - 1) === 0x0d ? e - 1 : e;
  }

  /** Skips a (possibly nested) comment; the current char must be "(". */
  skipComment(): number {
    const d = this.data;
    let level = 1;
    if (this.lastComment !== null) this.lastComment = "";
    let start = ++this.pos;
    for (; this.pos < this.end; this.pos++) {
      const c = d.charCodeAt(this.pos);
      if (c === 0x28) level++;
      else if (c === 0x29) {
        if (--level === 0) {
          if (this.lastComment !== null) this.lastComment += d.slice(start, this.pos);
          this.pos++;
          return this.pos < this.end ? 1 : 0;
        }
      } else if (c === 0x0a) {
        // folding whitespace: drop the (CR)LF
        if (this.lastComment === null) continue;
        this.lastComment += d.slice(start, this.beforeLineEnd(start));
        start = this.pos + 1;
      } else if (c === 0x5c) {
        const q = this.quotedPair();
        if (q < 0) return -1;
        if (q === 0) continue;
        if (this.lastComment !== null) this.lastComment += d.slice(start, this.pos - 1);
        start = this.pos;
      }
    }
    return -1; // missing ")"
  }

  /** Skips whitespace (incl. CR/LF) and comments (CFWS, RFC 5322 §3.2.2). */
  skipLwsp(): number {
    const d = this.data;
    while (this.pos < this.end) {
      const c = d.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) {
        this.pos++;
        continue;
      }
      if (c !== 0x28) break;
      if (this.skipComment() < 0) return -1;
    }
    return this.pos < this.end ? 1 : 0;
  }

  /** RFC 2045 token; "." is accepted too. Appends to out[0]. */
  parseMimeToken(out: [string]): number {
    return this.takeRun(out, isMimeTokenChar);
  }

  parseAtom(out: [string]): number {
    if (this.pos >= this.end || !isAtext(this.data.charCodeAt(this.pos))) return -1;
    return this.takeRun(out, isAtext);
  }

  /** Like parseAtom but also accepts "." (obs-phrase, RFC 5322 §4.1). */
  parseAtomOrDot(out: [string]): number {
    return this.takeRun(out, isAtextOrDot);
  }

  /**
   * Appends the run of characters that `accept` takes to out[0], then skips
   * CFWS: 1 with more input, 0 at the end (also when the run reaches the end).
   */
  private takeRun(out: [string], accept: (c: number) => boolean): number {
    const d = this.data;
    const start = this.pos;
    while (this.pos < this.end && accept(d.charCodeAt(this.pos))) this.pos++;
    out[0] += d.slice(start, this.pos);
    return this.pos < this.end ? this.skipLwsp() : 0;
  }

  /** dot-atom, allowing CFWS around "." for RFC 822 compatibility. */
  parseDotAtom(out: [string]): number {
    const d = this.data;
    if (this.pos >= this.end || !isAtext(d.charCodeAt(this.pos))) return -1;
    let start = this.pos++;
    while (this.pos < this.end) {
      if (isAtext(d.charCodeAt(this.pos))) {
        this.pos++;
        continue;
      }
      if (start === this.pos) return -1;
      out[0] += d.slice(start, this.pos);
      const ret = this.skipLwsp();
      if (ret <= 0) return ret;
      if (d.charCodeAt(this.pos) !== 0x2e) return 1;
      this.pos++;
      out[0] += ".";
      if (this.skipLwsp() <= 0) return -1;
      start = this.pos;
    }
    out[0] += d.slice(start, this.pos);
    return 0;
  }

  /** quoted-string (RFC 5322 §3.2.4); the current char must be DQUOTE. */
  parseQuotedString(out: [string]): number {
    const d = this.data;
    let start = ++this.pos;
    for (; this.pos < this.end; this.pos++) {
      const c = d.charCodeAt(this.pos);
      if (c === 0x22) {
        out[0] += d.slice(start, this.pos);
        this.pos++;
        return this.skipLwsp();
      }
      if (c === 0 && this.nulReplacement !== null) {
        out[0] += d.slice(start, this.pos) + this.nulReplacement;
        start = this.pos + 1;
      } else if (c === 0x0a) {
        out[0] += d.slice(start, this.beforeLineEnd(start));
        start = this.pos + 1;
      } else if (c === 0x5c) {
        const q = this.quotedPair();
        if (q < 0) return -1;
        if (q === 0) continue;
        out[0] += d.slice(start, this.pos - 1);
        start = this.pos;
      }
    }
    return -1; // missing closing DQUOTE
  }

  /** phrase = 1*word / obs-phrase; words are joined with one space. */
  parsePhrase(out: [string]): number {
    if (this.pos >= this.end) return 0;
    if (this.peek() === 0x2e) return -1;
    for (;;) {
      const ret = this.peek() === 0x22 ? this.parseQuotedString(out) : this.parseAtomOrDot(out);
      if (ret <= 0) return ret;
      const c = this.peek();
      if (!isAtext(c) && c !== 0x22 && c !== 0x2e) break;
      out[0] += " ";
    }
    return this.skipLwsp();
  }

  private parseDomainLiteral(out: [string]): number {
    const d = this.data;
    let start = this.pos++;
    for (; this.pos < this.end; this.pos++) {
      const c = d.charCodeAt(this.pos);
      if (c === 0 && this.nulReplacement !== null) {
        out[0] += d.slice(start, this.pos) + this.nulReplacement;
        start = this.pos + 1;
      } else if (c === 0x5b) {
        return -1; // "[" is not allowed inside
      } else if (c === 0x5d) {
        out[0] += d.slice(start, this.pos + 1);
        this.pos++;
        return this.skipLwsp();
      } else if (c === 0x0a) {
        let e = this.pos;
        if (e > start && d.charCodeAt(e - 1) === 0x0d) e--;
        out[0] += d.slice(start, e);
        start = this.pos + 1;
      } else if (c === 0x5c) {
        // the backslash of a quoted-pair is preserved in domain literals
        this.pos++;
        if (this.pos >= this.end) return -1;
        const n = d.charCodeAt(this.pos);
        if (n === 0x0d || n === 0x0a || n === 0) this.pos--;
      }
    }
    return -1;
  }

  /** domain after "@" (the current char must be "@"). */
  parseDomain(out: [string]): number {
    this.pos++;
    if (this.skipLwsp() <= 0) return -1;
    if (this.peek() === 0x5b) return this.parseDomainLiteral(out);
    return this.parseDotAtom(out);
  }
}

export const RFC822_NUL_REPLACEMENT = NUL_REPLACEMENT;
