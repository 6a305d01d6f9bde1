// Response writer: IMAP responses as chunks ready for socket.write (RFC 9051 §7).
//
// A response is a list of ResponseChunk: Buffers (small text merged into as few as
// possible; Buffers given as literal data are passed through without copying) and
// StreamLiteral parts, whose `source` the host pipes to the socket after writing the
// preceding chunks — a 20 MB body part is never concatenated into a string.
//
//   tagged("a1", "OK", "FETCH completed")                         → Buffer
//   untaggedStatus("OK", "Ready", responseCodes.uidValidity(42))   → Buffer
//   untagged([5, atom("EXISTS")])                                  → ResponseChunk[]
//   fetchResponse(3, [["UID", 9], ["BODY[]", streamLiteral(n, s)]]) → ResponseChunk[]
//
// Strings are quoted when they are short and hold no CR, LF or NUL, and either are
// US-ASCII or the session accepts UTF-8 (IMAP4rev2 / UTF8=ACCEPT, RFC 6855 §3);
// otherwise they are sent as literals. NUL cannot appear in an IMAP string at all
// (RFC 9051 §4.3, CHAR8): callers strip it from header data, or send BINARY content
// as a literal8 (`literal(data, { binary: true })`).

import { isUtf8 } from "node:buffer";
import { formatDateTime } from "./date-time.ts";
import { Atom, type ImapValue, Literal, RawData, StreamLiteral } from "./imap-value.ts";
import { encodeMutf7 } from "./mutf7.ts";

export type ResponseChunk = Buffer | StreamLiteral;

export interface WriterOptions {
  /** UTF-8 may appear in quoted strings (IMAP4rev2 or UTF8=ACCEPT enabled). */
  readonly utf8?: boolean;
  /** Longer strings are sent as literals. */
  readonly maxQuotedLength?: number;
}

export type StatusCondition = "OK" | "NO" | "BAD" | "PREAUTH" | "BYE";

const DEFAULT_MAX_QUOTED_LENGTH = 1024;
const CRLF = "\r\n";

/** Builds one response's chunks: appends text, values and literals in order. */
export class ResponseEncoder {
  readonly #utf8: boolean;
  readonly #maxQuotedLength: number;
  readonly #chunks: ResponseChunk[] = [];
  #text = "";

  constructor(options: WriterOptions = {}) {
    this.#utf8 = options.utf8 ?? false;
    this.#maxQuotedLength = options.maxQuotedLength ?? DEFAULT_MAX_QUOTED_LENGTH;
  }

  /** Appends text as is (the caller guarantees it is valid here). */
  text(text: string): this {
    this.#text += text;
    return this;
  }

  value(value: ImapValue): this {
    if (value === null) return this.text("NIL");
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not an IMAP number: ${value}`);
      return this.text(String(value));
    }
    if (typeof value === "bigint") return this.text(value.toString());
    if (typeof value === "string") return this.#string(Buffer.from(value, "utf8"));
    if (Buffer.isBuffer(value)) return this.#string(value);
    if (value instanceof Atom) return this.text(value.text);
    if (value instanceof Literal) return this.#literal(value.data, value.binary);
    if (value instanceof RawData) {
      this.#flush();
      if (value.bytes.length > 0) this.#chunks.push(value.bytes);
      return this;
    }
    if (value instanceof StreamLiteral) {
      this.text(`${value.binary ? "~" : ""}{${value.size}}${CRLF}`);
      this.#flush();
      this.#chunks.push(value);
      return this;
    }
    this.text("(");
    value.forEach((item, index) => {
      if (index > 0) this.text(" ");
      this.value(item);
    });
    return this.text(")");
  }

  /** Appends values separated by single spaces. */
  values(values: readonly ImapValue[]): this {
    values.forEach((item, index) => {
      if (index > 0) this.text(" ");
      this.value(item);
    });
    return this;
  }

  #string(bytes: Buffer): this {
    if (this.#isQuotable(bytes)) {
      this.#text += `"${bytes.toString("utf8").replace(/["\\]/g, "\\$&")}"`;
      return this;
    }
    return this.#literal(bytes, false);
  }

  #isQuotable(bytes: Buffer): boolean {
    if (bytes.length > this.#maxQuotedLength) return false;
    let eightBit = false;
    for (const byte of bytes) {
      if (byte === 0x0d || byte === 0x0a || byte === 0x00) return false;
      if (byte >= 0x80) eightBit = true;
    }
    return !eightBit || (this.#utf8 && isUtf8(bytes));
  }

  #literal(data: Buffer, binary: boolean): this {
    this.text(`${binary ? "~" : ""}{${data.length}}${CRLF}`);
    this.#flush();
    if (data.length > 0) this.#chunks.push(data);
    return this;
  }

  #flush(): void {
    if (this.#text.length === 0) return;
    this.#chunks.push(Buffer.from(this.#text, "utf8"));
    this.#text = "";
  }

  /** Ends the response with CRLF and returns its chunks. */
  finish(): ResponseChunk[] {
    this.#text += CRLF;
    this.#flush();
    return this.#chunks;
  }
}

/** Response text may not contain CR or LF (RFC 9051 §9, `text`); they become spaces. */
function safeText(text: string): string {
  return text.replace(/[\r\n\0]/g, " ");
}

function statusLine(prefix: string, condition: StatusCondition, text: string, code: string | null): Buffer {
  const codePart = code ? `[${safeText(code)}] ` : "";
  return Buffer.from(`${prefix} ${condition} ${codePart}${safeText(text) || condition}${CRLF}`, "utf8");
}

/** `tag OK|NO|BAD [code] text` (RFC 9051 §7.1). */
export function tagged(
  tag: string,
  condition: "OK" | "NO" | "BAD",
  text: string,
  code: string | null = null,
): Buffer {
  return statusLine(tag, condition, text, code);
}

/** `* OK|NO|BAD|PREAUTH|BYE [code] text` (RFC 9051 §7.1). */
export function untaggedStatus(condition: StatusCondition, text: string, code: string | null = null): Buffer {
  return statusLine("*", condition, text, code);
}

/** `+ text` continuation request (RFC 9051 §7.6); SASL challenges pass base64 here. */
export function continuation(text = ""): Buffer {
  return Buffer.from(`+ ${safeText(text)}${CRLF}`, "utf8");
}

/** `* ` followed by the values, e.g. untagged([atom("FLAGS"), flagList(flags)]). */
export function untagged(values: readonly ImapValue[], options: WriterOptions = {}): ResponseChunk[] {
  return new ResponseEncoder(options).text("* ").values(values).finish();
}

/** `* n FETCH (name value ...)` (RFC 9051 §7.5.2); names are written as given. */
export function fetchResponse(
  sequenceNumber: number,
  items: ReadonlyArray<readonly [string, ImapValue]>,
  options: WriterOptions = {},
): ResponseChunk[] {
  const encoder = new ResponseEncoder(options).text(`* ${sequenceNumber} FETCH (`);
  items.forEach(([name, value], index) => {
    encoder.text(index > 0 ? ` ${name} ` : `${name} `).value(value);
  });
  return encoder.text(")").finish();
}

/** Concatenates chunks that are all Buffers (tests, small responses). */
export function chunksToBuffer(chunks: readonly ResponseChunk[]): Buffer {
  return Buffer.concat(
    chunks.map((chunk) => {
      if (!Buffer.isBuffer(chunk)) throw new Error("response contains a stream literal");
      return chunk;
    }),
  );
}

/** A date-time value: the quoted "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 9051 §9). */
export function dateTimeValue(date: Date, zoneMinutes = 0): Atom {
  return new Atom(`"${formatDateTime(date, zoneMinutes)}"`);
}

/**
 * A mailbox name as the session expects it: UTF-8 when `utf8`, else modified UTF-7
 * (RFC 3501 §5.1.3). Returned as a string value, so it is quoted or a literal as needed.
 */
export function mailboxNameValue(name: string, utf8: boolean): string {
  return utf8 ? name : encodeMutf7(name);
}
