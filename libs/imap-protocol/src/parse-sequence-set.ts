// sequence-set (RFC 9051 §9):
//   sequence-set = (seq-number / seq-range) ["," sequence-set] / "$"
//   seq-range    = seq-number ":" seq-number     ; either order: 4:2 is 2:4
//   seq-number   = nz-number / "*"
// "$" (RFC 5182) stands alone: it cannot be combined with other ranges.

import type { CommandCursor } from "./cursor.ts";
import { ParseError } from "./parse-error.ts";
import type { SequenceNumber, SequenceRange, SequenceSet } from "./sequence-set.ts";

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

function sequenceNumber(cursor: CommandCursor): SequenceNumber {
  if (cursor.accept("*")) return "*";
  if (!isDigit(cursor.peek())) cursor.fail("Invalid sequence set: expected a number or *");
  const value = cursor.number("sequence number");
  if (value === 0) cursor.fail("Invalid sequence set: 0 is not a valid message number");
  return value;
}

export interface SequenceSetOptions {
  /** Whether "$" is allowed (not in QRESYNC known-uids, for instance). */
  readonly allowSaved?: boolean;
  /** Whether "*" is allowed (RFC 7162 forbids it in known-uids). */
  readonly allowStar?: boolean;
}

export function parseSequenceSet(cursor: CommandCursor, options: SequenceSetOptions = {}): SequenceSet {
  if (cursor.peek() === 0x24 /* $ */) {
    if (options.allowSaved === false) cursor.fail('"$" is not allowed here');
    cursor.skip(1);
    assertSetEnds(cursor);
    return { kind: "saved" };
  }
  const ranges: SequenceRange[] = [];
  do {
    const start = sequenceNumber(cursor);
    const end = cursor.accept(":") ? sequenceNumber(cursor) : start;
    if (options.allowStar === false && (start === "*" || end === "*")) cursor.fail('"*" is not allowed here');
    ranges.push({ start, end });
  } while (cursor.accept(","));
  assertSetEnds(cursor);
  return { kind: "ranges", ranges };
}

/** A set ends at a space, a ")" or the end of the line; anything else is part of a bad set. */
function assertSetEnds(cursor: CommandCursor): void {
  const next = cursor.peek();
  if (next !== -1 && next !== 0x20 && next !== 0x29 /* ) */) throw new ParseError("Invalid sequence set");
}
