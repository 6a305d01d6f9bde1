import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Command } from "../src/ast.ts";
import { allowsExpungeResponses, COMMAND_TABLE, commandSpec, isValidInState } from "../src/commands.ts";
import { parse } from "./helpers.ts";

const EXAMPLES: Record<string, string> = {
  CAPABILITY: "t CAPABILITY",
  NOOP: "t NOOP",
  LOGOUT: "t LOGOUT",
  ID: "t ID NIL",
  STARTTLS: "t STARTTLS",
  AUTHENTICATE: "t AUTHENTICATE PLAIN",
  LOGIN: "t LOGIN a b",
  ENABLE: "t ENABLE CONDSTORE",
  SELECT: "t SELECT INBOX",
  EXAMINE: "t EXAMINE INBOX",
  CREATE: "t CREATE x",
  DELETE: "t DELETE x",
  RENAME: "t RENAME x y",
  SUBSCRIBE: "t SUBSCRIBE x",
  UNSUBSCRIBE: "t UNSUBSCRIBE x",
  LIST: 't LIST "" *',
  LSUB: 't LSUB "" *',
  XLIST: 't XLIST "" *',
  NAMESPACE: "t NAMESPACE",
  STATUS: "t STATUS x (MESSAGES)",
  APPEND: "t APPEND x {1+}\r\ny",
  IDLE: "t IDLE",
  GETQUOTA: 't GETQUOTA ""',
  GETQUOTAROOT: "t GETQUOTAROOT INBOX",
  CHECK: "t CHECK",
  CLOSE: "t CLOSE",
  UNSELECT: "t UNSELECT",
  EXPUNGE: "t EXPUNGE",
  SEARCH: "t SEARCH ALL",
  FETCH: "t FETCH 1 FLAGS",
  STORE: "t STORE 1 FLAGS ()",
  COPY: "t COPY 1 x",
  MOVE: "t MOVE 1 x",
  SETACL: "t SETACL x bob lrs",
  DELETEACL: "t DELETEACL x bob",
  GETACL: "t GETACL x",
  LISTRIGHTS: "t LISTRIGHTS x bob",
  MYRIGHTS: "t MYRIGHTS x",
  "UID SEARCH": "t UID SEARCH ALL",
  "UID FETCH": "t UID FETCH 1 FLAGS",
  "UID STORE": "t UID STORE 1 FLAGS ()",
  "UID COPY": "t UID COPY 1 x",
  "UID MOVE": "t UID MOVE 1 x",
  "UID EXPUNGE": "t UID EXPUNGE 1",
  SORT: "t SORT (DATE) UTF-8 ALL",
  THREAD: "t THREAD REFERENCES UTF-8 ALL",
  "UID SORT": "t UID SORT RETURN (MIN) (REVERSE SUBJECT DISPLAYFROM) US-ASCII BODY x",
  "UID THREAD": "t UID THREAD ORDEREDSUBJECT UTF-8 ALL",
  COMPRESS: "t COMPRESS DEFLATE",
};

describe("command table", () => {
  test("every table entry has a parser and every parsed command a table entry", () => {
    assert.deepEqual([...COMMAND_TABLE.keys()].sort(), Object.keys(EXAMPLES).sort());
    for (const [name, text] of Object.entries(EXAMPLES)) {
      const command: Command = parse(text);
      assert.equal(commandSpec(command).name, name);
    }
  });

  test("states follow RFC 9051", () => {
    const fetch = parse("t FETCH 1 FLAGS");
    assert.equal(isValidInState(fetch, "selected"), true);
    assert.equal(isValidInState(fetch, "authenticated"), false);
    assert.equal(isValidInState(parse("t LOGIN a b"), "authenticated"), false);
    assert.equal(isValidInState(parse("t LOGIN a b"), "not-authenticated"), true);
    assert.equal(isValidInState(parse("t SELECT INBOX"), "selected"), true);
    assert.equal(isValidInState(parse("t ENABLE X"), "selected"), false, "RFC 5161 §3.1");
    assert.equal(isValidInState(parse("t NOOP"), "not-authenticated"), true);
    assert.equal(isValidInState(parse("t APPEND x {1+}\r\ny"), "not-authenticated"), false);
  });

  test("no untagged EXPUNGE during FETCH, STORE, SEARCH by sequence number; UID variants are fine", () => {
    for (const text of [
      "t FETCH 1 FLAGS",
      "t STORE 1 FLAGS ()",
      "t SEARCH ALL",
      "t COPY 1 x",
      "t MOVE 1 x",
    ]) {
      assert.equal(allowsExpungeResponses(parse(text)), false, text);
    }
    for (const text of [
      "t UID FETCH 1 FLAGS",
      "t UID STORE 1 FLAGS ()",
      "t UID SEARCH ALL",
      "t NOOP",
      "t IDLE",
    ]) {
      assert.equal(allowsExpungeResponses(parse(text)), true, text);
    }
    assert.equal(commandSpec(parse("t EXPUNGE")).breaksSequenceNumbers, true);
    assert.equal(commandSpec(parse("t UID EXPUNGE 1")).breaksSequenceNumbers, true);
    assert.equal(commandSpec(parse("t FETCH 1 FLAGS")).breaksSequenceNumbers, false);
  });
});
