import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseAs, parseFails } from "./helpers.ts";

const NO_RETURN = { subscribed: false, children: false, specialUse: false, status: null };

describe("LIST, LSUB, XLIST", () => {
  test("basic LIST (RFC 3501 examples)", () => {
    assert.deepEqual(parseAs("LIST", 'A101 LIST "" ""'), {
      tag: "A101",
      name: "LIST",
      uid: false,
      reference: "",
      patterns: [""],
      selectionOptions: [],
      returnOptions: NO_RETURN,
      extended: false,
    });
    const wildcard = parseAs("LIST", "A102 LIST #news.comp.mail.misc %");
    assert.equal(wildcard.reference, "#news.comp.mail.misc");
    assert.deepEqual(wildcard.patterns, ["%"]);
    assert.deepEqual(parseAs("LIST", 'a1 LIST "" *').patterns, ["*"]);
    assert.deepEqual(parseAs("LIST", "a1 LIST ~/Mail/ foo/*]bar%").patterns, ["foo/*]bar%"]);
    assert.deepEqual(parseAs("LIST", 'a1 LIST "" {3+}\r\na b').patterns, ["a b"]);
  });

  test("LIST-EXTENDED selection options, several patterns and return options (RFC 5258)", () => {
    const command = parseAs(
      "LIST",
      'A01 LIST (subscribed RECURSIVEMATCH) "" ("INBOX" "Drafts" %/x) RETURN (CHILDREN SPECIAL-USE SUBSCRIBED STATUS (MESSAGES UNSEEN))',
    );
    assert.deepEqual(command.selectionOptions, ["SUBSCRIBED", "RECURSIVEMATCH"]);
    assert.deepEqual(command.patterns, ["INBOX", "Drafts", "%/x"]);
    assert.deepEqual(command.returnOptions, {
      subscribed: true,
      children: true,
      specialUse: true,
      status: ["MESSAGES", "UNSEEN"],
    });
    assert.equal(command.extended, true);
    assert.equal(parseAs("LIST", 'a1 LIST () "" %').extended, true);
    assert.deepEqual(parseAs("LIST", 'a1 LIST "" % RETURN ()').returnOptions, NO_RETURN);
    assert.deepEqual(parseAs("LIST", 'a1 LIST (SPECIAL-USE) "" *').selectionOptions, ["SPECIAL-USE"]);
  });

  test("LSUB and XLIST", () => {
    assert.deepEqual(parseAs("LSUB", 'A002 LSUB "#news." "comp.mail.*"'), {
      tag: "A002",
      name: "LSUB",
      uid: false,
      reference: "#news.",
      pattern: "comp.mail.*",
    });
    assert.equal(parseAs("XLIST", 'a1 XLIST "" *').name, "XLIST");
  });

  test("bad LISTs", () => {
    const bad: Array<[string, RegExp]> = [
      ["a1 LIST", /Missing argument/],
      ['a1 LIST ""', /Missing argument/],
      ['a1 LIST (FOO) "" *', /selection option FOO/],
      ['a1 LIST (RECURSIVEMATCH) "" *', /RECURSIVEMATCH requires/],
      ['a1 LIST "" ("a" "b"', /Expected "\)"/],
      ['a1 LIST "" * RETURN (FOO)', /return option FOO/],
      ['a1 LIST "" * RETURN (STATUS ())', /status item/],
      ['a1 LIST "" * FOO', /Expected RETURN/],
      ['a1 LIST "" * RETURN', /Missing argument/],
      ['a1 LIST "" (', /mailbox pattern/],
    ];
    for (const [text, message] of bad) assert.match(parseFails(text).message, message, text);
  });
});
