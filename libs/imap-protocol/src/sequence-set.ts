// Message sets: the sequence-set of RFC 9051 §9 as data, and helpers to format,
// compress and resolve them. The parser lives in parse-sequence-set.ts.

/** A message number or UID; "*" is the largest number in use (RFC 9051 §9, seq-number). */
export type SequenceNumber = number | "*";

/** `a:b` as written; a range "in either order" (4:2 means 2:4). */
export interface SequenceRange {
  readonly start: SequenceNumber;
  readonly end: SequenceNumber;
}

export type SequenceSet =
  | { readonly kind: "ranges"; readonly ranges: readonly SequenceRange[] }
  /** "$": the result saved by SEARCH RETURN (SAVE), RFC 5182. */
  | { readonly kind: "saved" };

/** The largest valid seq-number / UID: nz-number is a 32-bit unsigned integer. */
export const MAX_SEQUENCE_NUMBER = 0xffffffff;

function formatNumber(n: SequenceNumber): string {
  return n === "*" ? "*" : String(n);
}

/** Wire form of a sequence set as parsed (no normalisation). */
export function formatSequenceSet(set: SequenceSet): string {
  if (set.kind === "saved") return "$";
  return set.ranges
    .map((r) =>
      r.start === r.end ? formatNumber(r.start) : `${formatNumber(r.start)}:${formatNumber(r.end)}`,
    )
    .join(",");
}

/**
 * Compresses numbers (UIDs or sequence numbers, any order, duplicates allowed) into
 * the shortest ascending form, e.g. [1,2,3,4,5,7,9,10,11,12] → "1:5,7,9:12".
 * Returns "" for no numbers. A Uint32Array that is already sorted is not copied.
 */
export function compressSequenceSet(numbers: Iterable<number> | Uint32Array, alreadySorted = false): string {
  let sorted: ArrayLike<number>;
  if (alreadySorted && numbers instanceof Uint32Array) {
    sorted = numbers;
  } else {
    const copy = Uint32Array.from(numbers);
    if (!alreadySorted) copy.sort();
    sorted = copy;
  }
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i]!;
    let end = start;
    i++;
    while (i < sorted.length && (sorted[i] === end || sorted[i] === end + 1)) {
      end = sorted[i]!;
      i++;
    }
    parts.push(start === end ? String(start) : `${start}:${end}`);
  }
  return parts.join(",");
}

/** Numeric inclusive range, low ≤ high. */
export interface NumericRange {
  readonly low: number;
  readonly high: number;
}

/**
 * Resolves "*" to `largest` and orders each range, then sorts and merges them.
 * `largest` is the highest sequence number (or UID) in use, so "100:*" with largest 50
 * is 50:100 (RFC 9051 §9, seq-range). With an empty mailbox (largest 0) a range
 * involving "*" matches nothing. The saved set "$" cannot be resolved here.
 */
export function resolveSequenceSet(set: SequenceSet, largest: number): NumericRange[] {
  if (set.kind === "saved") throw new Error('the saved result "$" must be resolved by the session');
  const ranges: NumericRange[] = [];
  for (const range of set.ranges) {
    const a = range.start === "*" ? largest : range.start;
    const b = range.end === "*" ? largest : range.end;
    // "*" in an empty mailbox (largest 0) matches nothing.
    if (a === 0 || b === 0) continue;
    ranges.push({ low: Math.min(a, b), high: Math.max(a, b) });
  }
  ranges.sort((x, y) => x.low - y.low);
  const merged: NumericRange[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range.low <= last.high + 1) {
      merged[merged.length - 1] = { low: last.low, high: Math.max(last.high, range.high) };
    } else {
      merged.push(range);
    }
  }
  return merged;
}

/** True when `n` is in the resolved ranges (binary search). */
export function rangesContain(ranges: readonly NumericRange[], n: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const range = ranges[mid]!;
    if (n < range.low) hi = mid - 1;
    else if (n > range.high) lo = mid + 1;
    else return true;
  }
  return false;
}
