import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { emptyEnvelope } from "../src/envelope.ts";
import {
  type BodyStructure,
  imapNString,
  imapString,
  imapStringForHumans,
  serializeBodyStructure,
  serializeEnvelope,
} from "../src/index.ts";

describe("IMAP string syntax", () => {
  it("quotes plain strings and escapes quoted-specials", () => {
    assert.equal(imapString("hello"), '"hello"');
    assert.equal(imapString(""), '""');
    assert.equal(imapString('a "b" \\c'), '"a \\"b\\" \\\\c"');
  });
  it("switches to a literal for CR, LF, 8-bit or more than four escapes", () => {
    assert.equal(imapString("a\r\nb"), "{4}\r\na\r\nb");
    assert.equal(imapString("caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9");
    assert.equal(imapString('""""'), '"\\"\\"\\"\\""');
    assert.equal(imapString('"""""'), '{5}\r\n"""""');
  });
  it("writes NIL for absent nstrings, never for the string NIL", () => {
    assert.equal(imapNString(null), "NIL");
    assert.equal(imapNString(undefined), "NIL");
    assert.equal(imapNString("NIL"), '"NIL"');
  });
  it("normalises whitespace in strings for humans", () => {
    assert.equal(imapStringForHumans("plain subject"), '"plain subject"');
    assert.equal(imapStringForHumans("  a \t b\n c  "), "{5}\r\na b c");
    assert.equal(imapStringForHumans("   "), '""');
    assert.equal(imapStringForHumans('say "hi"'), '{8}\r\nsay "hi"');
  });
});

describe("ENVELOPE", () => {
  it("writes all ten fields with NIL and defaults sender/reply-to to from", () => {
    const env = emptyEnvelope();
    assert.equal(serializeEnvelope(env), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    env.from = [{ name: "A", adl: null, mailbox: "a", host: "x.test" }];
    env.subject = "s";
    env.to = [
      { name: null, adl: null, mailbox: "team", host: null },
      { name: null, adl: null, mailbox: "b", host: "y.test" },
      { name: null, adl: null, mailbox: null, host: null },
    ];
    assert.equal(
      serializeEnvelope(env),
      '(NIL "s" (("A" NIL "a" "x.test")) (("A" NIL "a" "x.test")) (("A" NIL "a" "x.test")) ' +
        '((NIL NIL "team" NIL)(NIL NIL "b" "y.test")(NIL NIL NIL NIL)) NIL NIL NIL NIL)',
    );
  });
  it("unfolds dates and message ids", () => {
    const env = emptyEnvelope();
    env.date = "Mon,\n 3 Mar 2025";
    env.messageId = "<a@b>";
    assert.match(serializeEnvelope(env), /^\("Mon, 3 Mar 2025" .* "<a@b>"\)$/);
  });
});

describe("BODY and BODYSTRUCTURE", () => {
  const text: BodyStructure = {
    type: "text",
    subtype: "plain",
    params: [],
    id: null,
    description: null,
    encoding: null,
    size: 10,
    lines: 2,
    md5: null,
    disposition: null,
    language: null,
    location: null,
  };
  const att: BodyStructure = {
    ...text,
    type: "application",
    subtype: "pdf",
    params: [["name", "r.pdf"]],
    encoding: "base64",
    disposition: { type: "attachment", params: [["filename", "r.pdf"]] },
    language: ["en"],
  };
  it("adds the default charset to text and never omits extension fields", () => {
    assert.equal(
      serializeBodyStructure(text, { extensible: true }),
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 2 NIL NIL NIL NIL)',
    );
    assert.equal(
      serializeBodyStructure(text, { extensible: false }),
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 2)',
    );
  });
  it("writes multiparts with parts, subtype and extension data", () => {
    const mp: BodyStructure = {
      ...text,
      type: "multipart",
      subtype: "mixed",
      params: [["boundary", "b"]],
      parts: [text, att],
    };
    assert.equal(
      serializeBodyStructure(mp, { extensible: true }),
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 2 NIL NIL NIL NIL)' +
        '("application" "pdf" ("name" "r.pdf") NIL NIL "base64" 10 NIL ("attachment" ("filename" "r.pdf")) ("en") NIL)' +
        ' "mixed" ("boundary" "b") NIL NIL NIL)',
    );
    assert.equal(
      serializeBodyStructure({ ...mp, parts: [] }, { extensible: false }),
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")',
    );
  });
  it("writes message/rfc822 with envelope, body and lines", () => {
    const msg: BodyStructure = {
      ...text,
      type: "message",
      subtype: "rfc822",
      size: 50,
      lines: 4,
      envelope: emptyEnvelope(),
      body: text,
    };
    assert.equal(
      serializeBodyStructure(msg, { extensible: false }),
      '("message" "rfc822" NIL NIL NIL "7bit" 50 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ' +
        '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 2) 4)',
    );
  });
});
