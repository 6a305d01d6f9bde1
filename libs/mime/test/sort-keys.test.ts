/**
 * RFC 5256 §2.1 base subjects, RFC 5957 display keys and the search text
 * (lower-cased, decoded, HTML as text, bounded).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { baseSubject, extractSearchText, indexMessageSync, messageIds, sortKeys } from "../src/index.ts";

test("base subject: leaders, trailers, blobs and [fwd: ...] wrappers (RFC 5256 §2.1)", () => {
  const cases: [string, string, boolean][] = [
    ["Meeting", "Meeting", false],
    ["Re: Meeting", "Meeting", true],
    ["RE: re: Fwd: Meeting", "Meeting", true],
    ["Re[2]: Meeting", "Meeting", true],
    ["[list] Re: Meeting", "Meeting", true],
    ["Meeting (fwd)", "Meeting", true],
    ["Meeting (fwd) (FWD)  ", "Meeting", true],
    ["[fwd: Meeting]", "Meeting", true],
    ["Re: [fwd: Re: Meeting (fwd)]", "Meeting", true],
    ["[list] Meeting", "Meeting", false],
    // a blob that is the whole subject stays (removing it would leave nothing)
    ["[list]", "[list]", false],
    ["  Re:   spaced\tout  ", "spaced out", true],
    ["Fw: x", "x", true],
    ["Reply: x", "Reply: x", false],
    ["", "", false],
  ];
  for (const [subject, base, reply] of cases) {
    assert.deepEqual(baseSubject(subject), { base, replyOrForward: reply }, subject);
  }
});

test("sort keys: first address (a group's name), display name else addr-spec, casemapped", () => {
  const index = indexMessageSync(
    Buffer.from(
      "From: =?UTF-8?Q?=C3=A9mile?= <Emile@X.org>\r\nTo: team: a@b.c, d@e.f;\r\nCc: c@x.org\r\nSubject: Re: hi\r\n\r\nbody\r\n",
    ),
  );
  const k = sortKeys(index);
  assert.equal(k.baseSubject, "HI");
  assert.equal(k.isReplyOrForward, true);
  assert.equal(k.fromMailbox, "EMILE");
  assert.equal(k.displayFrom, "E\u0301MILE", "decoded, uppercased, decomposed");
  assert.equal(k.toMailbox, "TEAM");
  assert.equal(k.displayTo, "TEAM");
  assert.equal(k.ccMailbox, "C");
});

test("search text: decoded parts, HTML as text, message/rfc822 headers, bounded", () => {
  const raw = Buffer.from(
    [
      "Subject: =?ISO-8859-1?Q?Caf=E9?=",
      "References: <a@x> <b@x>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="b"',
      "",
      "--b",
      "Content-Type: text/html; charset=iso-8859-1",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "<p>Cr=E8me <b>BR=DBL=C9E</b> &amp; co</p>",
      "--b",
      "Content-Type: message/rfc822",
      "",
      "Subject: inner",
      "",
      "Inner Body",
      "--b",
      'Content-Type: application/pdf; name="r.pdf"',
      "Content-Transfer-Encoding: base64",
      "",
      "AAAA",
      "--b--",
      "",
    ].join("\r\n"),
    "latin1",
  );
  const index = indexMessageSync(raw);
  const text = extractSearchText(raw, index.parts);
  assert.match(text.header, /subject: café/);
  assert.match(text.body, /crème brûlée & co/);
  assert.doesNotMatch(text.body, /<b>/);
  assert.match(text.body, /subject: inner/);
  assert.match(text.body, /inner body/);
  assert.deepEqual(text.attachmentNames, ["r.pdf"]);
  assert.deepEqual(text.references, ["<a@x>", "<b@x>"]);
  assert.equal(text.complete, true);
  const cut = extractSearchText(raw, index.parts, 10);
  assert.equal(cut.complete, false);
  assert.ok(cut.body.length <= 10);
  // a prefix of the bytes: the parts past it are missing
  assert.equal(extractSearchText(raw.subarray(0, 200), index.parts).complete, false);
  assert.deepEqual(messageIds(" <x@y>  junk <z@w>"), ["<x@y>", "<z@w>"]);
});
