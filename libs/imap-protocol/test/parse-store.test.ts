import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseAs, parseFails } from "./helpers.ts";

describe("STORE", () => {
  test("RFC 3501 example", () => {
    assert.deepEqual(parseAs("STORE", "A003 STORE 2:4 +FLAGS (\\Deleted)"), {
      tag: "A003",
      name: "STORE",
      uid: false,
      sequenceSet: { kind: "ranges", ranges: [{ start: 2, end: 4 }] },
      action: "add",
      silent: false,
      flags: ["\\Deleted"],
      unchangedSince: null,
    });
  });

  test("replace, add, remove, .SILENT, flag lists and bare flags", () => {
    const replace = parseAs("STORE", "a1 STORE 1 flags.silent (\\seen $Forwarded Junk)");
    assert.equal(replace.action, "replace");
    assert.equal(replace.silent, true);
    assert.deepEqual(replace.flags, ["\\Seen", "$Forwarded", "Junk"]);
    const remove = parseAs("STORE", "a1 UID STORE 5:* -FLAGS \\Flagged \\Draft");
    assert.equal(remove.uid, true);
    assert.equal(remove.action, "remove");
    assert.deepEqual(remove.flags, ["\\Flagged", "\\Draft"]);
    assert.deepEqual(parseAs("STORE", "a1 STORE 1 FLAGS ()").flags, [], "FLAGS () clears all flags");
    assert.deepEqual(parseAs("STORE", "a1 STORE 1 +FLAGS (a a A)").flags, ["a", "A"], "duplicates dropped");
    assert.deepEqual(parseAs("STORE", "a1 STORE 1 +FLAGS (\\Answered \\Custom)").flags, [
      "\\Answered",
      "\\Custom",
    ]);
  });

  test("UNCHANGEDSINCE (RFC 7162 §3.1.3)", () => {
    const store = parseAs("STORE", "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)");
    assert.equal(store.unchangedSince, 320162338n);
    assert.equal(store.silent, true);
    assert.equal(parseAs("STORE", "a1 STORE 1 (UNCHANGEDSINCE 0) FLAGS ()").unchangedSince, 0n);
  });

  test("bad STOREs", () => {
    const bad: Array<[string, RegExp]> = [
      ["a1 STORE 1 FLAGS", /Missing argument/],
      ["a1 STORE 1 +FLAGS (\\Recent)", /\\Recent/],
      ["a1 STORE 1 +FLAGS (\\*)", /\\\*/],
      ["a1 STORE 1 *FLAGS (\\Seen)", /Expected FLAGS/],
      ["a1 STORE 1 LABELS (x)", /Unknown store item/],
      ["a1 STORE 1 +FLAGS (\\Seen", /Expected "\)"/],
      ["a1 STORE 1 +FLAGS (%x)", /Expected flag/],
      ["a1 STORE 1 (FOO 1) FLAGS ()", /Unknown store modifier/],
      ["a1 STORE 0 FLAGS ()", /0 is not a valid/],
    ];
    for (const [text, message] of bad) assert.match(parseFails(text).message, message, text);
  });
});
