import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { formatDateTime, parseDateTime } from "../src/date-time.ts";
import { atom, flagList, literal, rawData, StreamLiteral, streamLiteral } from "../src/imap-value.ts";
import { responseCodes } from "../src/response-codes.ts";
import {
  chunksToBuffer,
  continuation,
  dateTimeValue,
  fetchResponse,
  mailboxNameValue,
  ResponseEncoder,
  tagged,
  untagged,
  untaggedStatus,
} from "../src/writer.ts";

function wire(chunks: ReturnType<typeof untagged>): string {
  return chunksToBuffer(chunks).toString("utf8");
}

describe("status and continuation responses", () => {
  test("tagged and untagged status lines with response codes", () => {
    assert.equal(tagged("a1", "OK", "LOGIN completed").toString(), "a1 OK LOGIN completed\r\n");
    assert.equal(
      tagged("A003", "OK", "APPEND completed", responseCodes.appendUid(38505, [3955])).toString(),
      "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n",
    );
    assert.equal(
      untaggedStatus("OK", "UIDs valid", responseCodes.uidValidity(3857529045)).toString(),
      "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
    );
    assert.equal(untaggedStatus("BYE", "bye\r\ninjected").toString(), "* BYE bye  injected\r\n");
    assert.equal(tagged("a1", "NO", "", responseCodes.tooBig()).toString(), "a1 NO [TOOBIG] NO\r\n");
  });

  test("response codes", () => {
    assert.equal(
      responseCodes.copyUid(38505, [304, 319, 320], [3956, 3957, 3958]),
      "COPYUID 38505 304,319:320 3956:3958",
    );
    assert.equal(responseCodes.copyUid(1, "5,3", "10,11"), "COPYUID 1 5,3 10,11", "strings keep their order");
    assert.equal(responseCodes.highestModseq(715194045007n), "HIGHESTMODSEQ 715194045007");
    assert.equal(
      responseCodes.permanentFlags(["\\Deleted", "\\Seen", "\\*"]),
      "PERMANENTFLAGS (\\Deleted \\Seen \\*)",
    );
    assert.equal(responseCodes.capability(["IMAP4rev1", "IDLE"]), "CAPABILITY IMAP4rev1 IDLE");
    assert.equal(responseCodes.badCharset(["UTF-8"]), "BADCHARSET (UTF-8)");
    assert.equal(responseCodes.modified([7, 9]), "MODIFIED 7,9");
    assert.equal(responseCodes.uidNext(4392), "UIDNEXT 4392");
    assert.equal(responseCodes.readOnly(), "READ-ONLY");
  });

  test("continuation requests", () => {
    assert.equal(continuation().toString(), "+ \r\n");
    assert.equal(continuation("idling").toString(), "+ idling\r\n");
  });
});

describe("data values", () => {
  test("numbers, NIL, atoms, lists and flag lists", () => {
    assert.equal(wire(untagged([23, atom("EXISTS")])), "* 23 EXISTS\r\n");
    assert.equal(
      wire(untagged([atom("FLAGS"), flagList(["\\Answered", "\\Seen", "$Forwarded"])])),
      "* FLAGS (\\Answered \\Seen $Forwarded)\r\n",
    );
    assert.equal(wire(untagged([atom("X"), [null, 1n, [], ["a", [2]]]])), '* X (NIL 1 () ("a" (2)))\r\n');
    assert.throws(() => untagged([-1]));
    assert.throws(() => untagged([1.5]));
  });

  test("strings are quoted with escapes, or literals when they must be", () => {
    const encode = (value: string | Buffer, utf8 = false) =>
      chunksToBuffer(new ResponseEncoder({ utf8 }).value(value).finish()).toString("utf8");
    assert.equal(encode("plain"), '"plain"\r\n');
    assert.equal(encode(""), '""\r\n');
    assert.equal(encode('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"\r\n');
    assert.equal(encode("two\r\nlines"), "{10}\r\ntwo\r\nlines\r\n");
    assert.equal(encode(Buffer.from("nul\0")), "{4}\r\nnul\0\r\n");
    assert.equal(encode("caf\u00e9"), "{5}\r\ncaf\u00e9\r\n", "8-bit without UTF-8 enabled is a literal");
    assert.equal(encode("caf\u00e9", true), '"caf\u00e9"\r\n', "UTF-8 quoted once enabled");
    const invalidUtf8 = chunksToBuffer(
      new ResponseEncoder({ utf8: true }).value(Buffer.from([0x61, 0xff])).finish(),
    );
    assert.deepEqual(
      invalidUtf8,
      Buffer.from([...Buffer.from("{2}\r\n"), 0x61, 0xff, 0x0d, 0x0a]),
      "invalid UTF-8 is never quoted, even with UTF-8 enabled",
    );
    assert.equal(encode("x".repeat(2000)).startsWith("{2000}\r\n"), true, "long strings become literals");
  });

  test("literal Buffers are passed through without copying; literal8 for binary", () => {
    const body = Buffer.from("a\0b");
    const chunks = fetchResponse(1, [["BINARY[1]", literal(body, { binary: true })]]);
    assert.equal(chunks.length, 3);
    assert.equal(chunks[1], body, "the same Buffer object");
    assert.equal(chunksToBuffer(chunks).toString("latin1"), "* 1 FETCH (BINARY[1] ~{3}\r\na\0b)\r\n");
    assert.equal(wire(untagged([literal("")])), "* {0}\r\n\r\n");
  });

  test("stream literals are handed to the host between text chunks", () => {
    const source = Readable.from([Buffer.from("hello")]);
    const chunks = fetchResponse(12, [
      ["UID", 4827313],
      ["BODY[]", streamLiteral(5, source)],
      ["FLAGS", flagList(["\\Seen"])],
    ]);
    assert.equal(chunks.length, 3);
    assert.equal((chunks[0] as Buffer).toString(), "* 12 FETCH (UID 4827313 BODY[] {5}\r\n");
    assert.ok(chunks[1] instanceof StreamLiteral);
    assert.equal(chunks[1].source, source);
    assert.equal((chunks[2] as Buffer).toString(), " FLAGS (\\Seen))\r\n");
    assert.throws(() => chunksToBuffer(chunks), /stream literal/);
    const binary = fetchResponse(1, [["BINARY[]", streamLiteral(5, source, { binary: true })]]);
    assert.equal((binary[0] as Buffer).toString(), "* 1 FETCH (BINARY[] ~{5}\r\n");
  });

  test("a 20 MB body is never copied into text", () => {
    const body = Buffer.alloc(20 * 1024 * 1024, 0x61);
    const chunks = fetchResponse(1, [["BODY[]", literal(body)]]);
    assert.equal(chunks[1], body);
    assert.ok((chunks[0] as Buffer).length < 100);
  });

  test("mailbox names follow the session encoding", () => {
    assert.equal(mailboxNameValue("Entw\u00fcrfe", false), "Entw&APw-rfe");
    assert.equal(mailboxNameValue("Entw\u00fcrfe", true), "Entw\u00fcrfe");
    assert.equal(
      wire(untagged([atom("LIST"), flagList(["\\HasNoChildren"]), "/", mailboxNameValue("A&B", false)])),
      '* LIST (\\HasNoChildren) "/" "A&-B"\r\n',
    );
  });
});

describe("date-time", () => {
  test("formats with a space-padded day and the zone", () => {
    const date = new Date(Date.UTC(1996, 6, 17, 9, 44, 25));
    assert.equal(formatDateTime(date, -420), "17-Jul-1996 02:44:25 -0700");
    assert.equal(formatDateTime(new Date(Date.UTC(2024, 1, 5, 0, 0, 0))), " 5-Feb-2024 00:00:00 +0000");
    assert.equal(formatDateTime(new Date(Date.UTC(2024, 1, 5, 23, 30, 0)), 90), " 6-Feb-2024 01:00:00 +0130");
    assert.equal(wire(untagged([dateTimeValue(date, 0)])), '* "17-Jul-1996 09:44:25 +0000"\r\n');
  });

  test("parse and format round-trip", () => {
    for (const text of [
      "17-Jul-1996 02:44:25 -0700",
      " 1-Jan-2000 00:00:00 +0000",
      "29-Feb-2024 23:59:59 +1345",
    ]) {
      const parsed = parseDateTime(text);
      assert.ok(parsed, text);
      assert.equal(formatDateTime(parsed.date, parsed.zoneMinutes), text);
    }
    for (const bad of [
      "1-Jan-2000 00:00:00 +0000",
      "01-Jan-2000 24:00:00 +0000",
      "01-Foo-2000 00:00:00 +0000",
      "01-Jan-2000 00:00:00 0000",
    ]) {
      assert.equal(parseDateTime(bad), null, bad);
    }
  });
});

test("raw data is written byte for byte, 8-bit octets and literals intact", () => {
  const envelope = Buffer.from('("x" {3}\r\n\xe9t\xe9 NIL)', "latin1");
  const out = chunksToBuffer(
    fetchResponse(1, [
      ["ENVELOPE", rawData(envelope)],
      ["UID", 7],
    ]),
  );
  assert.deepEqual(
    out,
    Buffer.concat([Buffer.from("* 1 FETCH (ENVELOPE "), envelope, Buffer.from(" UID 7)\r\n")]),
  );
});
