import assert from "node:assert/strict";
import { test } from "node:test";
import { parse, parseFails } from "./helpers.ts";

test("ACL commands (RFC 4314 §3, §8): mailbox, identifier, rights as sent", () => {
  assert.deepEqual(parse('t SETACL "Other Users/a@b/Team" bob@example.org +lrs'), {
    tag: "t",
    name: "SETACL",
    uid: false,
    mailbox: "Other Users/a@b/Team",
    identifier: "bob@example.org",
    rights: "+lrs",
  });
  assert.deepEqual(parse('t SETACL inbox anyone ""'), {
    tag: "t",
    name: "SETACL",
    uid: false,
    mailbox: "INBOX",
    identifier: "anyone",
    rights: "",
  });
  assert.equal((parse("t DELETEACL x bob") as { identifier: string }).identifier, "bob");
  assert.equal((parse("t LISTRIGHTS x bob") as { identifier: string }).identifier, "bob");
  assert.deepEqual(parse("t GETACL x"), {
    tag: "t",
    name: "GETACL",
    uid: false,
    mailbox: "x",
    identifier: null,
    rights: null,
  });
  assert.equal(parse("t MYRIGHTS {1+}\r\nx").name, "MYRIGHTS");
  // Missing or extra arguments are BAD.
  for (const bad of [
    "t SETACL x bob",
    "t SETACL x",
    "t GETACL",
    "t GETACL x y",
    "t DELETEACL x",
    "t MYRIGHTS x y",
  ]) {
    assert.equal(parseFails(bad).status, "BAD", bad);
  }
});
