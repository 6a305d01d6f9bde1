// IMAP data as values for the response writer (RFC 9051 §4):
//   null            NIL
//   number, bigint  number (bigint for mod-sequences)
//   string, Buffer  string: written quoted when that is safe, else as a literal
//   array           parenthesised list
//   Atom            atom or any other bare token written as is (flags, "BODY[]", ...)
//   Literal         a string forced to literal form, or a literal8 (BINARY)
//   StreamLiteral   a literal whose octets come from a stream, piped by the host
//   RawData         octets already in IMAP syntax (a stored ENVELOPE or BODYSTRUCTURE,
//                   which may hold 8-bit bytes and literals), written byte for byte

import type { Readable } from "node:stream";

/** Text written exactly as given (atoms, flags, fetch item names). Must not contain CR or LF. */
export class Atom {
  constructor(readonly text: string) {}
}

export class Literal {
  constructor(
    readonly data: Buffer,
    /** literal8 `~{n}` (RFC 3516), for content that may contain NUL. */
    readonly binary: boolean = false,
  ) {}
}

export class StreamLiteral {
  constructor(
    /** Exactly how many octets `source` will yield; the header announces it. */
    readonly size: number,
    readonly source: Readable | AsyncIterable<Buffer>,
    readonly binary: boolean = false,
  ) {}
}

/**
 * Octets that already are valid IMAP data (e.g. the pre-serialised ENVELOPE and
 * BODYSTRUCTURE of the MIME index). Written unchanged; text values go through
 * UTF-8, which would corrupt their 8-bit bytes.
 */
export class RawData {
  constructor(readonly bytes: Buffer) {}
}

export function rawData(bytes: Buffer | string): RawData {
  return new RawData(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes);
}

export type ImapValue =
  | null
  | number
  | bigint
  | string
  | Buffer
  | Atom
  | Literal
  | StreamLiteral
  | RawData
  | readonly ImapValue[];

export function atom(text: string): Atom {
  return new Atom(text);
}

export function literal(data: Buffer | string, options: { binary?: boolean } = {}): Literal {
  return new Literal(typeof data === "string" ? Buffer.from(data, "utf8") : data, options.binary ?? false);
}

export function streamLiteral(
  size: number,
  source: Readable | AsyncIterable<Buffer>,
  options: { binary?: boolean } = {},
): StreamLiteral {
  return new StreamLiteral(size, source, options.binary ?? false);
}

/** A flag list, e.g. (\Seen $Forwarded); flags are written as given. */
export function flagList(flags: Iterable<string>): Atom[] {
  return Array.from(flags, (flag) => new Atom(flag));
}
