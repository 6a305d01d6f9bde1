import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FetchItem } from "../src/ast.ts";
import { fetchResponseName } from "../src/fetch-response-name.ts";
import { parseAs, parseFails } from "./helpers.ts";

function items(text: string): readonly FetchItem[] {
  return parseAs("FETCH", `a1 FETCH 1 ${text}`).items;
}

function names(text: string): string[] {
  return items(text).map(fetchResponseName);
}

describe("FETCH", () => {
  test("the whole command shape", () => {
    assert.deepEqual(parseAs("FETCH", "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])"), {
      tag: "A654",
      name: "FETCH",
      uid: false,
      sequenceSet: { kind: "ranges", ranges: [{ start: 2, end: 4 }] },
      items: [
        { kind: "attribute", name: "FLAGS" },
        {
          kind: "body-section",
          peek: false,
          section: { part: [], text: { kind: "HEADER.FIELDS", not: false, fields: ["DATE", "FROM"] } },
          partial: null,
        },
      ],
      macro: null,
      changedSince: null,
      vanished: false,
    });
  });

  test("simple attributes, alone or in a list, any case", () => {
    const all =
      "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID MODSEQ RFC822 RFC822.HEADER RFC822.TEXT";
    assert.deepEqual(names(`(${all.toLowerCase()})`), all.split(" "));
    assert.deepEqual(names("uid"), ["UID"]);
  });

  test("macros expand (RFC 9051 §6.4.5)", () => {
    const fast = parseAs("FETCH", "a1 FETCH 1:* fast");
    assert.equal(fast.macro, "FAST");
    assert.deepEqual(fast.items.map(fetchResponseName), ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]);
    assert.deepEqual(names("ALL"), ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]);
    assert.deepEqual(names("FULL"), ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]);
    assert.match(parseFails("a1 FETCH 1 (ALL)").message, /Unknown fetch attribute ALL/);
  });

  test("body sections: whole, header, text, MIME, nested parts", () => {
    const sections = items(
      "(BODY[] BODY.PEEK[HEADER] BODY[TEXT] BODY[1] BODY[1.2.3] BODY[4.2.HEADER] BODY[3.MIME] BODY[2.TEXT])",
    );
    assert.deepEqual(
      sections.map((item) => (item.kind === "body-section" ? [item.peek, item.section] : null)),
      [
        [false, { part: [], text: null }],
        [true, { part: [], text: { kind: "HEADER" } }],
        [false, { part: [], text: { kind: "TEXT" } }],
        [false, { part: [1], text: null }],
        [false, { part: [1, 2, 3], text: null }],
        [false, { part: [4, 2], text: { kind: "HEADER" } }],
        [false, { part: [3], text: { kind: "MIME" } }],
        [false, { part: [2], text: { kind: "TEXT" } }],
      ],
    );
  });

  test("HEADER.FIELDS and HEADER.FIELDS.NOT with astring field names", () => {
    const [item] = items('BODY.PEEK[1.HEADER.FIELDS.NOT (X-Mailer "Received" {4+}\r\nDate)]');
    assert.deepEqual(item, {
      kind: "body-section",
      peek: true,
      section: {
        part: [1],
        text: { kind: "HEADER.FIELDS", not: true, fields: ["X-Mailer", "Received", "Date"] },
      },
      partial: null,
    });
    assert.equal(fetchResponseName(item!), "BODY[1.HEADER.FIELDS.NOT (X-Mailer Received Date)]");
  });

  test("partial fetches answer with the origin only", () => {
    const [item] = items("BODY.PEEK[TEXT]<0.2048>");
    assert.ok(item?.kind === "body-section");
    assert.deepEqual(item.partial, { offset: 0, length: 2048 });
    assert.equal(fetchResponseName(item), "BODY[TEXT]<0>");
    assert.deepEqual(names("BODY[]<100.5>"), ["BODY[]<100>"]);
  });

  test("BINARY, BINARY.PEEK and BINARY.SIZE (RFC 3516)", () => {
    assert.deepEqual(items("(BINARY[1.2] BINARY.PEEK[]<0.10> BINARY.SIZE[3])"), [
      { kind: "binary", peek: false, part: [1, 2], partial: null },
      { kind: "binary", peek: true, part: [], partial: { offset: 0, length: 10 } },
      { kind: "binary-size", part: [3] },
    ]);
    assert.deepEqual(names("(BINARY.PEEK[1]<5.5> BINARY.SIZE[])"), ["BINARY[1]<5>", "BINARY.SIZE[]"]);
  });

  test("PREVIEW and PREVIEW (LAZY) (RFC 8970)", () => {
    assert.deepEqual(items("(UID PREVIEW)"), [
      { kind: "attribute", name: "UID" },
      { kind: "preview", lazy: false },
    ]);
    assert.deepEqual(items("(PREVIEW (LAZY) FLAGS)"), [
      { kind: "preview", lazy: true },
      { kind: "attribute", name: "FLAGS" },
    ]);
  });

  test("CHANGEDSINCE and VANISHED modifiers (RFC 7162)", () => {
    const changed = parseAs("FETCH", "s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)");
    assert.equal(changed.uid, true);
    assert.equal(changed.changedSince, 12345n);
    assert.equal(changed.vanished, false);
    const vanished = parseAs("FETCH", "s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
    assert.equal(vanished.vanished, true);
    assert.equal(
      parseAs("FETCH", "a1 FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775807)").changedSince,
      2n ** 63n - 1n,
    );
    assert.match(parseFails("a1 FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)").message, /out of range/);
    assert.match(
      parseFails("a1 FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)").message,
      /VANISHED requires UID/,
    );
    assert.match(parseFails("a1 UID FETCH 1:* (FLAGS) (VANISHED)").message, /VANISHED requires/);
    assert.match(parseFails("a1 FETCH 1 FLAGS (FOO)").message, /fetch modifier FOO/);
  });

  test("malformed FETCHes", () => {
    const bad: Array<[string, RegExp]> = [
      ["a1 FETCH 1", /Missing argument/],
      ["a1 FETCH 1 ()", /Expected fetch attribute/],
      ["a1 FETCH 1 (FLAGS", /Expected "\)"/],
      ["a1 FETCH 1 FLAGS)", /Unexpected text/],
      ["a1 FETCH 1 (FLAGS))", /Unexpected text/],
      ["a1 FETCH 1 BODY[", /Expected section text/],
      ["a1 FETCH 1 BODY[HEADER", /Expected "\]"/],
      ["a1 FETCH 1 BODY[0]", /must not be 0/],
      ["a1 FETCH 1 BODY[MIME]", /MIME requires a part/],
      ["a1 FETCH 1 BODY[1.FOO]", /Unknown section FOO/],
      ["a1 FETCH 1 BODY[HEADER.FIELDS]", /Expected a space|Missing argument/],
      ["a1 FETCH 1 BODY[HEADER.FIELDS ()]", /header field name/],
      ["a1 FETCH 1 BODY[HEADER.FIELDS (a:b)]", /Invalid header field name/],
      ["a1 FETCH 1 BODY[]<0>", /Expected "\."/],
      ["a1 FETCH 1 BODY[]<0.0>", /must not be 0/],
      ["a1 FETCH 1 BODY.PEEK", /requires a section/],
      ["a1 FETCH 1 BINARY", /Expected "\["/],
      ["a1 FETCH 1 BINARY[TEXT]", /Expected "\]"/],
      ["a1 FETCH 1 BINARY.SIZE[1]<0.1>", /Unexpected text/],
      ["a1 FETCH 1 RFC822.FOO", /Unknown fetch attribute/],
      ["a1 FETCH 1 (FLAGS  UID)", /Expected fetch attribute/],
    ];
    for (const [text, message] of bad) {
      const error = parseFails(text);
      assert.equal(error.tag, "a1");
      assert.match(error.message, message, text);
    }
  });
});
