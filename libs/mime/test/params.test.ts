import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeEncodedWords, decodeParamValue, parseContentType, parseDisposition } from "../src/index.ts";

describe("Content-Type parameters (RFC 2045, RFC 2231)", () => {
  it("parses type, subtype and parameters with quoting and comments", () => {
    const ct = parseContentType('Text/HTML (comment); charset="utf-8"; Format = flowed');
    assert.equal(ct.type, "Text");
    assert.equal(ct.subtype, "HTML");
    assert.deepEqual(ct.params, [
      ["charset", "utf-8"],
      ["Format", "flowed"],
    ]);
  });
  it("keeps what it could read of a broken value", () => {
    assert.deepEqual(parseContentType("text"), { type: "text", subtype: "", params: [] });
    assert.deepEqual(parseContentType("garbage; a=b"), { type: "", subtype: "", params: [] });
  });
  it("merges continuations in index order and marks extended values", () => {
    const d = parseDisposition(
      "attachment; filename*1*=%D0%B8%D0%BC%D1%8F; filename*0*=UTF-8''%D0%B4%D0%BB; filename*2=\".txt\"",
    );
    assert.ok(d !== null);
    assert.deepEqual(d.params, [["filename*", "UTF-8''%D0%B4%D0%BB%D0%B8%D0%BC%D1%8F.txt"]]);
    assert.equal(decodeParamValue(d.params[0]!, decodeEncodedWords), "длимя.txt");
  });
  it("joins plain continuations and escapes % when mixing with extended ones", () => {
    assert.deepEqual(parseContentType('text/plain; name*0="a b"; name*1="c"').params, [["name", "a bc"]]);
    assert.deepEqual(parseContentType("text/plain; n*0=50%; n*1*=%41").params, [["n*", "''50%25%41"]]);
  });
  it("leaves continuations with a gap unmerged", () => {
    assert.deepEqual(parseContentType('text/plain; f*0="a"; f*2="c"').params, [
      ["f*0", "a"],
      ["f*2", "c"],
    ]);
  });
  it("decodes charsets in RFC 2231 values, including KOI8-R", () => {
    assert.equal(
      decodeParamValue(["filename*", "koi8-r'ru'%F0%D2%C9%D7%C5%D4"], decodeEncodedWords),
      "Привет",
    );
    assert.equal(decodeParamValue(["filename", "=?UTF-8?B?0YTQsNC50Ls=?="], decodeEncodedWords), "файл");
  });
  it("accepts a single extended parameter", () => {
    assert.deepEqual(parseContentType("application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf").params, [
      ["name*", "utf-8''r%C3%A9sum%C3%A9.pdf"],
    ]);
  });
});

describe("RFC 2047 encoded words", () => {
  it("decodes B and Q words and drops whitespace between adjacent words", () => {
    assert.equal(decodeEncodedWords("=?UTF-8?B?0J/RgNC40LLQtdGC?= world"), "Привет world");
    assert.equal(decodeEncodedWords("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
    assert.equal(decodeEncodedWords("=?ISO-8859-1?Q?Andr=E9?= Pirard"), "André Pirard");
    assert.equal(decodeEncodedWords("=?US-ASCII?Q?Keith_Moore?="), "Keith Moore");
  });
  it("joins a multi-byte character split across words", () => {
    // "П" is D0 9F in UTF-8, split into two words
    assert.equal(decodeEncodedWords("=?UTF-8?Q?=D0?= =?UTF-8?Q?=9F?="), "П");
  });
  it("decodes KOI8-R and windows-1251 words, and keeps raw UTF-8", () => {
    assert.equal(decodeEncodedWords("=?KOI8-R?B?8NLJ18XU?="), "Привет");
    assert.equal(decodeEncodedWords("=?windows-1251?Q?=CF=F0=E8=E2=E5=F2?="), "Привет");
    assert.equal(decodeEncodedWords(Buffer.from("Grüße", "utf8").toString("latin1")), "Grüße");
  });
  it("unfolds and leaves malformed words alone", () => {
    assert.equal(decodeEncodedWords("a\r\n b"), "a b");
    assert.equal(decodeEncodedWords("=?bogus"), "=?bogus");
    assert.equal(decodeEncodedWords("=?x-unknown?Q?abc?="), "abc");
  });
});
