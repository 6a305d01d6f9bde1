import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeMutf7, encodeMutf7, isValidMutf7 } from "../src/mutf7.ts";
import { parseAs, parseFails } from "./helpers.ts";

describe("modified UTF-7 (RFC 3501 §5.1.3)", () => {
  test("RFC 3501 example and round trips", () => {
    const name = "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e";
    assert.equal(encodeMutf7(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
    assert.equal(decodeMutf7("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), name);
    const samples = [
      "",
      "INBOX",
      "A&B",
      "&",
      "Entw\u00fcrfe",
      "\u00e9t\u00e9 & hiver",
      "emoji \u{1F600}!",
      "\u00e4\u00f6\u00fc",
    ];
    for (const sample of samples) assert.equal(decodeMutf7(encodeMutf7(sample)), sample);
    assert.equal(encodeMutf7("A&B"), "A&-B");
    assert.equal(encodeMutf7("Entw\u00fcrfe"), "Entw&APw-rfe");
    assert.equal(encodeMutf7("\u{1F600}"), "&2D3eAA-");
  });

  test("invalid encodings are rejected", () => {
    const invalid = [
      "&", // unterminated
      "&U,BTFw", // unterminated
      "&Jjo!-", // bad base64 character
      "&U,BTF-", // bad padding bits
      "&AGE-", // printable ASCII "a" encoded
      "&2D3e-", // unpaired high surrogate
      "&3gA-", // lone low surrogate
      "a\u00e9b", // 8-bit
      "tab\there", // control character
      "&AAA/-", // "/" is not modified base64
    ];
    for (const text of invalid) assert.equal(isValidMutf7(text), false, text);
    assert.equal(isValidMutf7("&-"), true);
    assert.equal(decodeMutf7("&-&-"), "&&");
  });

  test("mailbox names are decoded per session encoding", () => {
    assert.equal(parseAs("SELECT", "a1 SELECT Entw&APw-rfe").mailbox, "Entw\u00fcrfe");
    assert.equal(
      parseAs("SELECT", 'a1 SELECT "Entw\u00fcrfe"', { mailboxEncoding: "utf8" }).mailbox,
      "Entw\u00fcrfe",
    );
    assert.equal(
      parseAs("SELECT", "a1 SELECT A&B", { mailboxEncoding: "utf8" }).mailbox,
      "A&B",
      "& has no special meaning in UTF-8 names",
    );
    assert.equal(parseAs("RENAME", "a1 RENAME a&-b &ZeVnLIqe-").to, "\u65e5\u672c\u8a9e");
    assert.deepEqual(parseAs("LIST", 'a1 LIST "" &ZeVnLIqe-/%').patterns, ["\u65e5\u672c\u8a9e/%"]);
  });

  test("8-bit, invalid UTF-8 and invalid mUTF-7 names are BAD", () => {
    assert.match(parseFails('a1 SELECT "Entw\u00fcrfe"').message, /not valid modified UTF-7 \(8-bit/);
    assert.match(parseFails("a1 CREATE &Jjo!-").message, /not valid modified UTF-7/);
    assert.match(parseFails("a1 DELETE &AGE-").message, /not valid modified UTF-7/);
    // Well-formed syntax naming an impossible mailbox: NO [CANNOT], not BAD.
    const refused = parseFails("a1 SELECT &Jjo!-");
    assert.equal(refused.status, "NO");
    assert.equal(refused.responseCode, "CANNOT");
    const latin1 = Buffer.concat([Buffer.from('a1 SELECT "Entw'), Buffer.from([0xfc]), Buffer.from('rfe"')]);
    assert.match(parseFails(latin1, { mailboxEncoding: "utf8" }).message, /not valid UTF-8/);
    const literal = Buffer.concat([Buffer.from("a1 CREATE {3+}\r\na"), Buffer.from([0xc3, 0x28])]);
    assert.match(parseFails(literal, { mailboxEncoding: "utf8" }).message, /not valid UTF-8/);
    assert.match(parseFails(literal).message, /8-bit/);
  });
});

test("encoding refuses unpaired surrogates instead of writing an undecodable name", () => {
  assert.throws(() => encodeMutf7("a\ud800b"), /surrogate/);
});
