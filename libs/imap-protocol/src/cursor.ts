// Octet cursor over a framed command, with the lexical rules of RFC 9051 §9:
// atoms, numbers, quoted strings, literals and the strings built from them.
// Every grammar file (parse-*.ts) reads through this; nothing here knows commands.

import { isAstringChar, isAtomChar, isTagChar } from "./charset.ts";
import type { FramedCommand, FramedLiteral } from "./framed-command.ts";
import { decodeMutf7, Mutf7Error } from "./mutf7.ts";
import { ParseError } from "./parse-error.ts";

export type MailboxEncoding = "mutf7" | "utf8";

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const TILDE = 0x7e;
const PLUS = 0x2b;
const CR = 0x0d;
const NUL = 0x00;

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** Decodes strict UTF-8; throws a ParseError naming `what` otherwise. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new ParseError(`${what} is not valid UTF-8`);
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte >= 0x80) return false;
  return true;
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

const MAX_UINT32 = 0xffffffff;
const MAX_MODSEQ = (1n << 63n) - 1n;

export class CommandCursor {
  readonly #segments: readonly Buffer[];
  readonly #literals: readonly FramedLiteral[];
  #segmentIndex = 0;
  #position = 0;
  readonly mailboxEncoding: MailboxEncoding;

  constructor(command: FramedCommand, mailboxEncoding: MailboxEncoding) {
    this.#segments = command.segments;
    this.#literals = command.literals;
    this.mailboxEncoding = mailboxEncoding;
  }

  get #segment(): Buffer {
    return this.#segments[this.#segmentIndex] ?? Buffer.alloc(0);
  }

  /** The octet under the cursor, or -1 at the end of a line segment. */
  peek(offset = 0): number {
    const segment = this.#segment;
    const at = this.#position + offset;
    return at < segment.length ? segment[at]! : -1;
  }

  /** True at the end of the last line segment: the whole command was read. */
  atEnd(): boolean {
    return this.#segmentIndex >= this.#segments.length - 1 && this.#position >= this.#segment.length;
  }

  /** Upper-cased view of the next `length` octets, for keyword look-ahead. */
  peekUpper(length: number): string {
    const segment = this.#segment;
    return segment
      .toString("latin1", this.#position, Math.min(segment.length, this.#position + length))
      .toUpperCase();
  }

  skip(count: number): void {
    this.#position += count;
  }

  fail(message: string): never {
    throw new ParseError(message);
  }

  /** Requires the command to end here. */
  end(): void {
    if (!this.atEnd()) {
      if (this.peek() === SP && this.#position + 1 === this.#segment.length && this.atLastSegment()) {
        this.fail("Trailing space at end of command");
      }
      this.fail("Unexpected text at end of command");
    }
  }

  atLastSegment(): boolean {
    return this.#segmentIndex >= this.#segments.length - 1;
  }

  expect(char: string): void {
    if (this.peek() !== char.charCodeAt(0)) this.fail(`Expected "${char}"`);
    this.#position++;
  }

  accept(char: string): boolean {
    if (this.peek() !== char.charCodeAt(0)) return false;
    this.#position++;
    return true;
  }

  sp(): void {
    if (this.peek() !== SP) this.fail(this.atEnd() ? "Missing argument" : "Expected a space");
    this.#position++;
  }

  /** True (and consumed) when a space follows. */
  acceptSp(): boolean {
    return this.accept(" ");
  }

  /** Consumes `keyword` (case-insensitive) when it comes next, followed by a non-atom octet. */
  acceptKeyword(keyword: string): boolean {
    if (this.peekUpper(keyword.length) !== keyword) return false;
    const after = this.peek(keyword.length);
    if (after !== -1 && isAtomChar(after)) return false;
    this.#position += keyword.length;
    return true;
  }

  #readWhile(predicate: (byte: number) => boolean): string {
    const segment = this.#segment;
    const start = this.#position;
    let end = start;
    while (end < segment.length && predicate(segment[end]!)) end++;
    this.#position = end;
    return segment.toString("latin1", start, end);
  }

  tag(): string {
    const tag = this.#readWhile(isTagChar);
    if (tag.length === 0) this.fail("Missing or invalid tag");
    return tag;
  }

  /** 1*ATOM-CHAR, as sent. */
  atom(what = "atom"): string {
    const atom = this.#readWhile(isAtomChar);
    if (atom.length === 0) this.fail(`Expected ${what}`);
    return atom;
  }

  /** Octets while `predicate` holds (at least one), for grammar-specific tokens. */
  token(predicate: (byte: number) => boolean, what: string): string {
    const token = this.#readWhile(predicate);
    if (token.length === 0) this.fail(`Expected ${what}`);
    return token;
  }

  /** number = 1*DIGIT, a 32-bit unsigned integer (RFC 9051 §9). */
  number(what = "number"): number {
    const digits = this.#readWhile(isDigit);
    if (digits.length === 0) this.fail(`Expected ${what}`);
    const value = digits.length > 10 ? Number.POSITIVE_INFINITY : Number(digits);
    if (value > MAX_UINT32) this.fail(`${what} out of range`);
    return value;
  }

  /** nz-number: a number other than 0. */
  nzNumber(what = "number"): number {
    const value = this.number(what);
    if (value === 0) this.fail(`${what} must not be 0`);
    return value;
  }

  /** number64 (RFC 9051 §9), e.g. LARGER/SMALLER sizes: up to 2^63-1, as a JS number. */
  number64(what = "number"): number {
    const value = this.modseq(what, true);
    return Number(value);
  }

  /** mod-sequence-value = 1*DIGIT up to 2^63-1 (RFC 7162 §7); nz unless `allowZero`. */
  modseq(what = "mod-sequence value", allowZero = false): bigint {
    const digits = this.#readWhile(isDigit);
    if (digits.length === 0) this.fail(`Expected ${what}`);
    if (digits.length > 19) this.fail(`${what} out of range`);
    const value = BigInt(digits);
    if (value > MAX_MODSEQ) this.fail(`${what} out of range`);
    if (value === 0n && !allowZero) this.fail(`${what} must not be 0`);
    return value;
  }

  /** True when a quoted string or a literal starts here. */
  atString(): boolean {
    const byte = this.peek();
    return byte === DQUOTE || byte === OPEN_BRACE || (byte === TILDE && this.peek(1) === OPEN_BRACE);
  }

  /** quoted = DQUOTE *QUOTED-CHAR DQUOTE, unescaped. */
  quoted(): Buffer {
    this.expect('"');
    const segment = this.#segment;
    const out: number[] = [];
    let i = this.#position;
    for (;;) {
      if (i >= segment.length) this.fail("Unterminated quoted string");
      const byte = segment[i]!;
      if (byte === DQUOTE) break;
      if (byte === CR || byte === NUL) this.fail("Invalid character in quoted string");
      if (byte === BACKSLASH) {
        const escaped = segment[i + 1];
        if (escaped !== DQUOTE && escaped !== BACKSLASH) this.fail("Invalid escape in quoted string");
        out.push(escaped);
        i += 2;
        continue;
      }
      out.push(byte);
      i++;
    }
    this.#position = i + 1;
    return Buffer.from(out);
  }

  /**
   * A literal header ending this segment, and the literal that follows it. Moves the
   * cursor to the start of the next segment.
   */
  literal(): FramedLiteral {
    const binary = this.accept("~");
    this.expect("{");
    const segment = this.#segment;
    let i = this.#position;
    while (i < segment.length && isDigit(segment[i]!)) i++;
    if (i === this.#position) this.fail("Invalid literal header");
    if (segment[i] === PLUS) i++;
    if (segment[i] !== CLOSE_BRACE || i + 1 !== segment.length) this.fail("Invalid literal header");
    const literal = this.#literals[this.#segmentIndex];
    if (!literal || literal.binary !== binary) this.fail("Invalid literal");
    this.#segmentIndex++;
    this.#position = 0;
    return literal;
  }

  /** A literal that must be in the command (not streamed), and not literal8. */
  #textLiteral(): Buffer {
    if (this.peek() === TILDE) this.fail("literal8 is not allowed here");
    const literal = this.literal();
    if (literal.kind === "streamed") this.fail("Literal too large for this argument");
    if (literal.data.includes(NUL)) this.fail("NUL octet in literal");
    return literal.data;
  }

  /** string = quoted / literal. */
  string(): Buffer {
    if (this.peek() === DQUOTE) return this.quoted();
    if (this.peek() === OPEN_BRACE || this.peek() === TILDE) return this.#textLiteral();
    this.fail("Expected a string");
  }

  /** astring = 1*ASTRING-CHAR / string. */
  astring(what = "argument"): Buffer {
    if (this.atString()) return this.string();
    const segment = this.#segment;
    const start = this.#position;
    let end = start;
    while (end < segment.length && isAstringChar(segment[end]!)) end++;
    if (end === start) this.fail(`Expected ${what}`);
    this.#position = end;
    return segment.subarray(start, end);
  }

  /** An astring decoded as UTF-8 text. */
  astringText(what = "argument"): string {
    return decodeUtf8(this.astring(what), what);
  }

  /** string decoded as UTF-8 text. */
  stringText(what = "string"): string {
    return decodeUtf8(this.string(), what);
  }

  /** nstring = string / nil, decoded as UTF-8 text. */
  nstringText(what = "string"): string | null {
    if (this.acceptKeyword("NIL")) return null;
    return this.stringText(what);
  }

  /** mailbox = "INBOX" / astring, decoded per the session (RFC 3501 §5.1.3, RFC 6855). */
  mailbox(): string {
    return normaliseInbox(this.decodeMailboxBytes(this.astring("mailbox name")));
  }

  /**
   * A name that is not valid modified UTF-7 is well-formed IMAP syntax naming a
   * mailbox that cannot exist, so it is a NO [CANNOT], not a BAD (as Dovecot does).
   * With `lenient` (LIST patterns) it is returned as sent, matching nothing.
   */
  decodeMailboxBytes(bytes: Buffer, lenient = false): string {
    if (this.mailboxEncoding === "utf8") return decodeUtf8(bytes, "Mailbox name");
    if (!isAscii(bytes)) {
      if (lenient) return bytes.toString("latin1");
      throw new ParseError("Mailbox name is not valid modified UTF-7 (8-bit octets)", "NO", "CANNOT");
    }
    try {
      return decodeMutf7(bytes.toString("latin1"));
    } catch (error) {
      if (error instanceof Mutf7Error) {
        if (lenient) return bytes.toString("latin1");
        throw new ParseError(`Mailbox name is not valid modified UTF-7: ${error.message}`, "NO", "CANNOT");
      }
      throw error;
    }
  }
}

/** RFC 9051 §5.1: the name INBOX is case-insensitive; any spelling becomes "INBOX". */
export function normaliseInbox(name: string): string {
  return name.length === 5 && name.toLowerCase() === "inbox" ? "INBOX" : name;
}
