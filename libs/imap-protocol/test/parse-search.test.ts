import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SearchKey } from "../src/search-key.ts";
import { parseAs, parseFails } from "./helpers.ts";

function criteria(text: string): readonly SearchKey[] {
  return parseAs("SEARCH", `a1 SEARCH ${text}`).criteria;
}

describe("SEARCH", () => {
  test("RFC 3501 examples", () => {
    assert.deepEqual(parseAs("SEARCH", 'A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"'), {
      tag: "A282",
      name: "SEARCH",
      uid: false,
      charset: null,
      returnOptions: null,
      criteria: [
        { key: "FLAGGED" },
        { key: "SINCE", date: { year: 1994, month: 2, day: 1 } },
        { key: "NOT", operand: { key: "FROM", value: "Smith" } },
      ],
    });
    const withCharset = parseAs(
      "SEARCH",
      "A284 SEARCH CHARSET UTF-8 TEXT {12+}\r\n\u00e4\u00f6\u00fc\u00df\u0107\u0119",
    );
    assert.equal(withCharset.charset, "UTF-8");
    assert.deepEqual(withCharset.criteria, [{ key: "TEXT", value: "\u00e4\u00f6\u00fc\u00df\u0107\u0119" }]);
  });

  test("every flag key", () => {
    const keys =
      "ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN".split(
        " ",
      );
    assert.deepEqual(
      criteria(keys.join(" ").toLowerCase()),
      keys.map((key) => ({ key })),
    );
  });

  test("string, date, size, header, keyword and set keys", () => {
    assert.deepEqual(
      criteria(
        'BCC a BODY "b c" CC c FROM d SUBJECT {1+}\r\ne TEXT f TO g ' +
          'BEFORE "2-Mar-2020" ON 29-feb-2024 SENTBEFORE 1-Jan-2000 SENTON 10-Oct-2010 SENTSINCE 1-Jan-1970 ' +
          "LARGER 1024 SMALLER 4294967296 HEADER X-Spam-Flag YES KEYWORD $Junk UNKEYWORD Work " +
          "UID 1:100,200 1:5,*,7:* OLDER 3600 YOUNGER 60",
      ),
      [
        { key: "BCC", value: "a" },
        { key: "BODY", value: "b c" },
        { key: "CC", value: "c" },
        { key: "FROM", value: "d" },
        { key: "SUBJECT", value: "e" },
        { key: "TEXT", value: "f" },
        { key: "TO", value: "g" },
        { key: "BEFORE", date: { year: 2020, month: 3, day: 2 } },
        { key: "ON", date: { year: 2024, month: 2, day: 29 } },
        { key: "SENTBEFORE", date: { year: 2000, month: 1, day: 1 } },
        { key: "SENTON", date: { year: 2010, month: 10, day: 10 } },
        { key: "SENTSINCE", date: { year: 1970, month: 1, day: 1 } },
        { key: "LARGER", size: 1024 },
        { key: "SMALLER", size: 4294967296 },
        { key: "HEADER", field: "X-Spam-Flag", value: "YES" },
        { key: "KEYWORD", flag: "$Junk" },
        { key: "UNKEYWORD", flag: "Work" },
        {
          key: "UID",
          set: {
            kind: "ranges",
            ranges: [
              { start: 1, end: 100 },
              { start: 200, end: 200 },
            ],
          },
        },
        {
          key: "SEQUENCE",
          set: {
            kind: "ranges",
            ranges: [
              { start: 1, end: 5 },
              { start: "*", end: "*" },
              { start: 7, end: "*" },
            ],
          },
        },
        { key: "OLDER", seconds: 3600 },
        { key: "YOUNGER", seconds: 60 },
      ],
    );
  });

  test("OR, NOT and nested parentheses", () => {
    assert.deepEqual(criteria("OR (SEEN FLAGGED) NOT (OR DELETED (DRAFT))"), [
      {
        key: "OR",
        left: { key: "AND", operands: [{ key: "SEEN" }, { key: "FLAGGED" }] },
        right: { key: "NOT", operand: { key: "OR", left: { key: "DELETED" }, right: { key: "DRAFT" } } },
      },
    ]);
    assert.deepEqual(criteria("((((ALL))))"), [{ key: "ALL" }]);
    assert.deepEqual(criteria("OR OR SEEN DRAFT UID 5"), [
      {
        key: "OR",
        left: { key: "OR", left: { key: "SEEN" }, right: { key: "DRAFT" } },
        right: { key: "UID", set: { kind: "ranges", ranges: [{ start: 5, end: 5 }] } },
      },
    ]);
  });

  test("MODSEQ with and without an entry (RFC 7162 §3.1.5)", () => {
    assert.deepEqual(criteria("MODSEQ 620162338"), [{ key: "MODSEQ", modseq: 620162338n, entry: null }]);
    assert.deepEqual(criteria('MODSEQ "/flags/\\\\draft" all 620162338'), [
      { key: "MODSEQ", modseq: 620162338n, entry: { name: "/flags/\\draft", type: "all" } },
    ]);
    assert.match(parseFails('a1 SEARCH MODSEQ "/x" all 1').message, /\/flags\//);
    assert.match(parseFails('a1 SEARCH MODSEQ "/flags/\\\\seen" both 1').message, /entry type/);
  });

  test("ESEARCH RETURN options and the saved result $", () => {
    assert.deepEqual(parseAs("SEARCH", "a1 UID SEARCH RETURN (MIN MAX COUNT) UNSEEN").returnOptions, [
      "MIN",
      "MAX",
      "COUNT",
    ]);
    assert.deepEqual(parseAs("SEARCH", "a1 SEARCH RETURN () ALL").returnOptions, ["ALL"]);
    const saved = parseAs("SEARCH", "a1 SEARCH RETURN (SAVE) CHARSET us-ascii UID $ SUBJECT x");
    assert.deepEqual(saved.returnOptions, ["SAVE"]);
    assert.equal(saved.charset, "US-ASCII");
    assert.deepEqual(saved.criteria[0], { key: "UID", set: { kind: "saved" } });
    assert.deepEqual(criteria("$"), [{ key: "SEQUENCE", set: { kind: "saved" } }]);
    assert.match(parseFails("a1 SEARCH RETURN (FIRST) ALL").message, /Unknown search return option/);
  });

  test("unsupported charsets get NO [BADCHARSET]", () => {
    assert.deepEqual(parseFails("a1 SEARCH CHARSET KOI8-R SUBJECT x"), {
      tag: "a1",
      commandName: "SEARCH",
      status: "NO",
      responseCode: "BADCHARSET (US-ASCII UTF-8)",
      message: "Unsupported charset KOI8-R",
    });
  });

  test("malformed searches", () => {
    const bad: Array<[string, RegExp]> = [
      ["a1 SEARCH", /Missing argument/],
      ["a1 SEARCH (SEEN", /Missing \)/],
      ["a1 SEARCH SEEN)", /Unexpected text/],
      ["a1 SEARCH ()", /Expected search key/],
      ["a1 SEARCH OR SEEN", /Missing argument/],
      ["a1 SEARCH NOT", /Missing argument/],
      ["a1 SEARCH FROM", /Missing argument/],
      ["a1 SEARCH SINCE 31-Apr-2020", /Invalid date/],
      ["a1 SEARCH SINCE 1-Foo-2020", /Invalid date/],
      ["a1 SEARCH SINCE 2020-01-01", /Invalid date/],
      ["a1 SEARCH LARGER x", /Expected size/],
      ["a1 SEARCH LARGER 99999999999999999999", /out of range/],
      ["a1 SEARCH UID 0", /0 is not a valid/],
      ["a1 SEARCH 1:", /expected a number/],
      ["a1 SEARCH FOO", /Unknown search key FOO/],
      ["a1 SEARCH SEEN  FLAGGED", /Expected search key/],
      ["a1 SEARCH HEADER Subject", /Missing argument/],
      ["a1 SEARCH KEYWORD \\Seen", /Expected keyword/],
      ["a1 SEARCH OLDER 0", /must not be 0/],
    ];
    for (const [text, message] of bad) {
      const error = parseFails(text);
      assert.equal(error.status, "BAD", text);
      assert.match(error.message, message, text);
    }
  });

  test("deep nesting is refused, not a stack overflow", () => {
    assert.match(
      parseFails(`a1 SEARCH ${"(".repeat(5000)}ALL${")".repeat(5000)}`).message,
      /nested too deeply/,
    );
    assert.match(parseFails(`a1 SEARCH ${"NOT ".repeat(5000)}ALL`).message, /nested too deeply/);
    assert.deepEqual(criteria(`${"(".repeat(50)}ALL${")".repeat(50)}`), [{ key: "ALL" }]);
  });
});
