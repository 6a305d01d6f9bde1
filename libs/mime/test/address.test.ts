import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Address, parseAddressList } from "../src/index.ts";

const a = (
  name: string | null,
  mailbox: string | null,
  host: string | null,
  adl: string | null = null,
): Address => ({
  name,
  adl,
  mailbox,
  host,
});

describe("address-list parsing (RFC 5322 §3.4)", () => {
  it("parses name-addr, addr-spec and quoted names", () => {
    assert.deepEqual(parseAddressList('"Joe Q. Public" <john@example.com>, mary@x.test, Who? <one@y.test>'), [
      a("Joe Q. Public", "john", "example.com"),
      a(null, "mary", "x.test"),
      a("Who?", "one", "y.test"),
    ]);
  });
  it("marks groups with start and end entries", () => {
    assert.deepEqual(parseAddressList("A Group:Ed Jones <c@a.test>,joe@where.test;, last@x.test"), [
      a(null, "A Group", null),
      a("Ed Jones", "c", "a.test"),
      a(null, "joe", "where.test"),
      a(null, null, null),
      a(null, "last", "x.test"),
    ]);
    assert.deepEqual(parseAddressList("Undisclosed recipients:;"), [
      a(null, "Undisclosed recipients", null),
      a(null, null, null),
    ]);
  });
  it("uses a trailing comment as the name and keeps routes", () => {
    assert.deepEqual(parseAddressList("alice@example.com (Alice)"), [a("Alice", "alice", "example.com")]);
    assert.deepEqual(parseAddressList("<@r1,@r2:user@example.com>"), [
      a(null, "user", "example.com", "@r1,@r2"),
    ]);
  });
  it("fills in missing pieces of broken addresses", () => {
    assert.deepEqual(parseAddressList("undisclosed"), [a(null, "undisclosed", "MISSING_DOMAIN")]);
    assert.deepEqual(parseAddressList("missing@"), [a(null, "missing", "MISSING_DOMAIN")]);
    assert.deepEqual(parseAddressList("x <broken@example.com"), [a("x", "broken", "SYNTAX_ERROR")]);
  });
  it("keeps encoded-words and 8-bit names as sent", () => {
    assert.deepEqual(parseAddressList("=?UTF-8?B?0JjQstCw0L0=?= <ivan@example.ru>"), [
      a("=?UTF-8?B?0JjQstCw0L0=?=", "ivan", "example.ru"),
    ]);
  });
  it("returns an empty list for an empty field", () => {
    assert.deepEqual(parseAddressList("   "), []);
  });
});
