// SORT / THREAD (RFC 5256 §4), SORT=DISPLAY (RFC 5957), ESORT RETURN (RFC 5267), COMPRESS (RFC 4978).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAs, parseFails } from "./helpers.ts";

test("SORT: criteria with REVERSE, charset, search keys, ESORT return options", () => {
  const c = parseAs(
    "SORT",
    "t UID SORT RETURN (MIN COUNT) (REVERSE DATE subject DISPLAYFROM) utf-8 BODY x UNSEEN",
  );
  assert.equal(c.uid, true);
  assert.deepEqual(c.returnOptions, ["MIN", "COUNT"]);
  assert.deepEqual(c.sortCriteria, [
    { key: "DATE", reverse: true },
    { key: "SUBJECT", reverse: false },
    { key: "DISPLAYFROM", reverse: false },
  ]);
  assert.equal(c.charset, "UTF-8");
  assert.equal(c.criteria.length, 2);
  assert.equal(parseAs("SORT", "t SORT (ARRIVAL) US-ASCII ALL").returnOptions, null);
});

test("SORT and THREAD errors: BAD for syntax, NO [BADCHARSET] for an unknown charset", () => {
  for (const bad of [
    "t SORT () UTF-8 ALL",
    "t SORT (BOGUS) UTF-8 ALL",
    "t SORT (REVERSE) UTF-8 ALL",
    "t SORT (DATE) UTF-8",
    "t SORT DATE UTF-8 ALL",
    "t THREAD REFS UTF-8 ALL",
    "t THREAD REFERENCES",
  ]) {
    assert.equal(parseFails(bad).status, "BAD", bad);
  }
  const charset = parseFails("t SORT (DATE) KOI8-R ALL");
  assert.equal(charset.status, "NO");
  assert.match(charset.responseCode ?? "", /^BADCHARSET/);
});

test("THREAD and COMPRESS", () => {
  const t = parseAs("THREAD", "t THREAD orderedsubject UTF-8 SINCE 1-Feb-1994");
  assert.equal(t.algorithm, "ORDEREDSUBJECT");
  assert.equal(t.uid, false);
  assert.equal(parseAs("THREAD", "t UID THREAD REFERENCES US-ASCII ALL").uid, true);
  assert.equal(parseAs("COMPRESS", "t COMPRESS deflate").mechanism, "DEFLATE");
  assert.equal(parseFails("t COMPRESS").status, "BAD");
});
