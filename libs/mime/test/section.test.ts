import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  filterHeaderFields,
  indexMessageSync,
  parseSectionSpec,
  resolveSection,
  slicePartial,
} from "../src/index.ts";

const msg = Buffer.from(
  [
    "From: a@example.com",
    "Subject: outer",
    "Content-Type: multipart/mixed; boundary=o",
    "",
    "--o",
    "Content-Type: text/plain",
    "",
    "first part",
    "--o",
    "Content-Type: message/rfc822",
    "",
    "Subject: inner",
    "X-Folded: a",
    " b",
    "Content-Type: multipart/alternative; boundary=i",
    "",
    "--i",
    "Content-Type: text/plain",
    "",
    "inner plain",
    "--i",
    "Content-Type: text/html",
    "",
    "<p>inner html</p>",
    "--i--",
    "--o--",
    "",
  ].join("\r\n"),
);
const ix = indexMessageSync(msg);

function read(spec: string): string | null {
  const r = resolveSection(ix, spec);
  if (r === null) return null;
  if (r.empty) return "";
  if (r.headerFields !== undefined) {
    const raw = msg.subarray(r.range.offset, r.range.offset + r.range.length);
    return slicePartial(
      filterHeaderFields(raw, r.headerFields.names, r.headerFields.not),
      r.partial,
    ).toString();
  }
  return msg.subarray(r.read.offset, r.read.offset + r.read.length).toString();
}

describe("section resolver", () => {
  it("resolves the top-level sections", () => {
    assert.equal(read(""), msg.toString());
    assert.equal(
      read("HEADER"),
      "From: a@example.com\r\nSubject: outer\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n",
    );
    assert.ok(read("TEXT")!.startsWith("--o\r\n"));
  });
  it("resolves parts, MIME headers and nested message/rfc822 parts", () => {
    assert.equal(read("1"), "first part");
    assert.equal(read("1.MIME"), "Content-Type: text/plain\r\n\r\n");
    assert.equal(read("2.MIME"), "Content-Type: message/rfc822\r\n\r\n");
    assert.ok(read("2")!.startsWith("Subject: inner\r\n"));
    assert.ok(read("2.HEADER")!.endsWith("boundary=i\r\n\r\n"));
    assert.ok(read("2.TEXT")!.startsWith("--i\r\n"));
    assert.equal(read("2.1"), "inner plain");
    assert.equal(read("2.2"), "<p>inner html</p>");
    assert.equal(read("2.2.MIME"), "Content-Type: text/html\r\n\r\n");
  });
  it("answers empty for missing parts and HEADER/TEXT of non-message parts", () => {
    assert.equal(read("3"), "");
    assert.equal(read("1.HEADER"), "");
    assert.equal(read("1.TEXT"), "");
    assert.equal(read("2.3"), "");
    // like the reference server: N.1 of a non-multipart part is that part's body
    assert.equal(read("1.1"), "first part");
    assert.equal(read("1.2"), "");
  });
  it("applies partials after extraction", () => {
    assert.equal(read("1<0.5>"), "first");
    assert.equal(read("1<6.100>"), "part");
    assert.equal(read("1<100.5>"), "");
    assert.equal(read("2.1<6>"), "plain");
    const r = resolveSection(ix, "2.2<3.4>")!;
    assert.equal(r.read.length, 4);
    assert.equal(r.read.offset, ix.parts.children![1]!.message!.children![1]!.bodyStart + 3);
  });
  it("filters header fields, with continuation lines and the blank line", () => {
    assert.equal(read("HEADER.FIELDS (subject)"), "Subject: outer\r\n\r\n");
    assert.equal(read('2.HEADER.FIELDS ("X-Folded" Subject)'), "Subject: inner\r\nX-Folded: a\r\n b\r\n\r\n");
    assert.equal(read("2.HEADER.FIELDS.NOT (X-Folded Content-Type)"), "Subject: inner\r\n\r\n");
    assert.equal(read("HEADER.FIELDS (Subject)<2.5>"), "bject");
  });
  it("treats part 1 of a single-part message as its body", () => {
    const m = Buffer.from("Subject: x\r\n\r\nbody\r\n");
    const one = indexMessageSync(m);
    const r = resolveSection(one, "1")!;
    assert.equal(m.subarray(r.read.offset, r.read.offset + r.read.length).toString(), "body\r\n");
    const mime = resolveSection(one, "1.MIME")!;
    assert.equal(
      m.subarray(mime.read.offset, mime.read.offset + mime.read.length).toString(),
      "Subject: x\r\n\r\n",
    );
    assert.equal(resolveSection(one, "2")!.empty, true);
  });
  it("rejects malformed specs", () => {
    for (const bad of ["MIME", "1.", "0", "1..2", "FOO", "HEADER.FIELDS", "HEADER.FIELDS ()", "1.2.BODY"]) {
      assert.equal(parseSectionSpec(bad), null, bad);
    }
    assert.deepEqual(parseSectionSpec('1.2.header.fields (from "x y")<0.10>'), {
      part: [1, 2],
      text: "HEADER.FIELDS",
      fields: ["FROM", "X Y"],
      partial: { start: 0, length: 10 },
    });
  });
  it("filterHeaderFields copes with bare LF and colon-less lines", () => {
    const h = Buffer.from("A: 1\nno colon line\nB: 2\n\tcont\n\n");
    assert.equal(filterHeaderFields(h, ["b"], false).toString(), "B: 2\n\tcont\n\n");
    assert.equal(filterHeaderFields(h, ["b"], true).toString(), "A: 1\nno colon line\n\n");
  });
});
