import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  compressSequenceSet,
  formatSequenceSet,
  rangesContain,
  resolveSequenceSet,
  type SequenceSet,
} from "../src/sequence-set.ts";
import { parseAs, parseFails } from "./helpers.ts";

function parseSet(text: string): SequenceSet {
  return parseAs("COPY", `a1 COPY ${text} x`).sequenceSet;
}

describe("sequence sets", () => {
  test("numbers, ranges in either order, * and $", () => {
    assert.deepEqual(parseSet("1"), { kind: "ranges", ranges: [{ start: 1, end: 1 }] });
    assert.deepEqual(parseSet("2,4:7,9,12:*"), {
      kind: "ranges",
      ranges: [
        { start: 2, end: 2 },
        { start: 4, end: 7 },
        { start: 9, end: 9 },
        { start: 12, end: "*" },
      ],
    });
    assert.deepEqual(parseSet("*:4,5:3"), {
      kind: "ranges",
      ranges: [
        { start: "*", end: 4 },
        { start: 5, end: 3 },
      ],
    });
    assert.deepEqual(parseSet("4294967295"), {
      kind: "ranges",
      ranges: [{ start: 4294967295, end: 4294967295 }],
    });
    assert.deepEqual(parseSet("$"), { kind: "saved" });
  });

  test("invalid sets are BAD with the tag", () => {
    const bad: Array<[string, RegExp]> = [
      ["0", /0 is not a valid/],
      ["1:0", /0 is not a valid/],
      ["1:", /expected a number/],
      [":1", /expected a number/],
      ["1,", /expected a number/],
      [",1", /expected a number/],
      ["1,,2", /expected a number/],
      ["1::2", /expected a number/],
      ["a", /expected a number/],
      ["1a", /Invalid sequence set/],
      ["4294967296", /out of range/],
      ["$,1", /Invalid sequence set/],
      ["1,$", /expected a number/],
      ["-1", /expected a number/],
      ["1.5", /Invalid sequence set/],
    ];
    for (const [set, message] of bad) {
      const error = parseFails(`a1 COPY ${set} x`);
      assert.equal(error.tag, "a1");
      assert.match(error.message, message, set);
    }
    assert.match(parseFails("a1 COPY  x").message, /expected a number/, "empty set");
  });

  test("formatSequenceSet writes the set as parsed", () => {
    for (const text of ["1", "1:5,7,9:*", "*", "*:3", "$"])
      assert.equal(formatSequenceSet(parseSet(text)), text);
  });

  test("compressSequenceSet", () => {
    assert.equal(compressSequenceSet([1, 2, 3, 4, 5, 7, 9, 10, 11, 12]), "1:5,7,9:12");
    assert.equal(compressSequenceSet([12, 9, 1, 3, 2, 2, 10, 11]), "1:3,9:12");
    assert.equal(compressSequenceSet([]), "");
    assert.equal(compressSequenceSet([4294967295]), "4294967295");
    assert.equal(compressSequenceSet(Uint32Array.of(1, 3, 4), true), "1,3:4");
    assert.equal(compressSequenceSet(new Set([5, 6])), "5:6");
  });

  test("resolveSequenceSet orders, merges and bounds *", () => {
    assert.deepEqual(resolveSequenceSet(parseSet("5:3,1,2,9:*"), 10), [
      { low: 1, high: 5 },
      { low: 9, high: 10 },
    ]);
    assert.deepEqual(
      resolveSequenceSet(parseSet("100:*"), 50),
      [{ low: 50, high: 100 }],
      "RFC 9051: n:* with n > max",
    );
    assert.deepEqual(resolveSequenceSet(parseSet("*"), 0), [], "* in an empty mailbox");
    assert.throws(() => resolveSequenceSet({ kind: "saved" }, 5));
    const ranges = resolveSequenceSet(parseSet("1:3,7,10:12"), 20);
    assert.deepEqual(
      [0, 1, 3, 4, 7, 8, 10, 12, 13].map((n) => rangesContain(ranges, n)),
      [false, true, true, false, true, false, true, true, false],
    );
  });
});
