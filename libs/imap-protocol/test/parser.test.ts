import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseCommand } from "../src/parser.ts";
import { frame, parse, parseAs, parseFails } from "./helpers.ts";

describe("parseCommand: envelope", () => {
  test("commands without arguments, any case", () => {
    for (const name of [
      "CAPABILITY",
      "NOOP",
      "LOGOUT",
      "STARTTLS",
      "CHECK",
      "CLOSE",
      "UNSELECT",
      "IDLE",
      "NAMESPACE",
    ]) {
      assert.deepEqual(parse(`t1 ${name.toLowerCase()}`), { tag: "t1", name, uid: false });
    }
    assert.deepEqual(parse("A001 EXPUNGE"), { tag: "A001", name: "EXPUNGE", uid: false, uids: null });
  });

  test("arguments after a command that takes none are BAD", () => {
    const error = parseFails("a1 NOOP now");
    assert.equal(error.tag, "a1");
    assert.equal(error.status, "BAD");
    assert.match(error.message, /Unexpected text/);
    assert.match(parseFails("a1 NOOP ").message, /Trailing space/);
  });

  test("unknown commands keep the tag", () => {
    assert.deepEqual(parseFails("a1 FROBNICATE x"), {
      tag: "a1",
      commandName: "FROBNICATE",
      status: "BAD",
      responseCode: null,
      message: "Unknown command FROBNICATE",
    });
    assert.match(parseFails("a1 UID FROB 1").message, /Unknown UID command/);
  });

  test("bad or missing tags answer untagged", () => {
    assert.equal(parseFails("+tag NOOP").tag, null);
    assert.equal(parseFails("a{b NOOP").tag, null);
    assert.equal(parseFails("a1").tag, "a1", "a known tag with no command");
    assert.match(parseFails("a1").message, /Missing command/);
    assert.match(parseFails("a1  NOOP").message, /command name/);
  });

  test("tags may use any ASTRING-CHAR but +", () => {
    assert.equal(parse("a]b.c-1 NOOP").tag, "a]b.c-1");
  });
});

describe("parseCommand: not authenticated", () => {
  test("LOGIN with atoms, quoted strings and literals", () => {
    assert.deepEqual(parse("a1 LOGIN alice secret"), {
      tag: "a1",
      name: "LOGIN",
      uid: false,
      username: "alice",
      password: "secret",
    });
    const quoted = parseAs("LOGIN", 'a1 LOGIN "al ice" "p\\"w\\\\d"');
    assert.equal(quoted.username, "al ice");
    assert.equal(quoted.password, 'p"w\\d');
    const literal = parseAs("LOGIN", "a1 LOGIN {5+}\r\nalice {5+}\r\np w\u00e9");
    assert.equal(literal.username, "alice");
    assert.equal(literal.password, "p w\u00e9", "5 octets: the literal size counts UTF-8 octets");
  });

  test("LOGIN rejects missing arguments, bad escapes and invalid UTF-8", () => {
    assert.match(parseFails("a1 LOGIN alice").message, /Missing argument/);
    assert.match(parseFails('a1 LOGIN "a\\b" x').message, /Invalid escape/);
    assert.match(parseFails('a1 LOGIN "abc x').message, /Unterminated/);
    assert.match(
      parseFails(Buffer.from([...Buffer.from('a1 LOGIN "a'), 0xff, 0x22, 0x20, 0x78])).message,
      /UTF-8/,
    );
    assert.match(parseFails("a1 LOGIN {3+}\r\na\0b x").message, /NUL/);
  });

  test("AUTHENTICATE with and without a SASL-IR initial response", () => {
    assert.deepEqual(parse("a1 authenticate plain"), {
      tag: "a1",
      name: "AUTHENTICATE",
      uid: false,
      mechanism: "PLAIN",
      initialResponse: null,
    });
    assert.equal(
      parseAs("AUTHENTICATE", "a1 AUTHENTICATE PLAIN AGFsaWNlAHB3").initialResponse,
      "AGFsaWNlAHB3",
    );
    assert.equal(parseAs("AUTHENTICATE", "a1 AUTHENTICATE PLAIN dGVzdA==").initialResponse, "dGVzdA==");
    assert.equal(parseAs("AUTHENTICATE", "a1 AUTHENTICATE EXTERNAL =").initialResponse, "");
    assert.match(parseFails("a1 AUTHENTICATE PLAIN abc").message, /base64/);
    assert.match(parseFails("a1 AUTHENTICATE PLAIN ab=c").message, /base64/);
  });
});

describe("parseCommand: authenticated state", () => {
  test("ENABLE takes one or more capabilities", () => {
    assert.deepEqual(parseAs("ENABLE", "a1 ENABLE condstore qresync IMAP4rev2").capabilities, [
      "CONDSTORE",
      "QRESYNC",
      "IMAP4REV2",
    ]);
    assert.match(parseFails("a1 ENABLE").message, /Missing argument/);
  });

  test("SELECT and EXAMINE, INBOX in any case", () => {
    assert.deepEqual(parse("a1 select inbox"), {
      tag: "a1",
      name: "SELECT",
      uid: false,
      mailbox: "INBOX",
      condstore: false,
      qresync: null,
    });
    assert.equal(parseAs("EXAMINE", 'a1 EXAMINE "InBoX"').mailbox, "INBOX");
    assert.equal(parseAs("EXAMINE", "a1 EXAMINE INBOX.Sent").mailbox, "INBOX.Sent");
    assert.equal(parseAs("SELECT", "a1 SELECT Inboxes").mailbox, "Inboxes");
  });

  test("SELECT (CONDSTORE) and (QRESYNC ...) per RFC 7162 §3.2.5", () => {
    assert.equal(parseAs("SELECT", "a1 SELECT INBOX (CONDSTORE)").condstore, true);
    const full = parseAs(
      "SELECT",
      "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
    );
    assert.deepEqual(full.qresync, {
      uidValidity: 67890007,
      modseq: 20050715194045000n,
      knownUids: {
        kind: "ranges",
        ranges: [
          { start: 41, end: 41 },
          { start: 43, end: 211 },
          { start: 214, end: 541 },
        ],
      },
      sequenceMatch: null,
    });
    const match = parseAs(
      "SELECT",
      "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
    );
    assert.equal(match.qresync?.sequenceMatch?.sequenceNumbers.kind, "ranges");
    const minimal = parseAs("SELECT", "a1 SELECT INBOX (QRESYNC (1 2) CONDSTORE)");
    assert.deepEqual(minimal.qresync, { uidValidity: 1, modseq: 2n, knownUids: null, sequenceMatch: null });
    assert.equal(minimal.condstore, true);
    const seqOnly = parseAs("SELECT", "a1 SELECT INBOX (QRESYNC (1 2 (1:3 7:9)))");
    assert.equal(seqOnly.qresync?.knownUids, null);
    assert.ok(seqOnly.qresync?.sequenceMatch);
  });

  test("bad select parameters", () => {
    assert.match(parseFails("a1 SELECT INBOX (FOO)").message, /select parameter FOO/);
    assert.match(parseFails("a1 SELECT INBOX (QRESYNC (0 1))").message, /UIDVALIDITY must not be 0/);
    assert.match(parseFails("a1 SELECT INBOX (QRESYNC (1 1 1:*))").message, /"\*" is not allowed/);
    assert.match(parseFails("a1 SELECT INBOX (CONDSTORE").message, /Expected "\)"/);
    assert.match(parseFails("a1 SELECT INBOX (QRESYNC (1 99999999999999999999))").message, /out of range/);
  });

  test("CREATE with and without (USE (...)) per RFC 6154", () => {
    assert.deepEqual(parse("a1 CREATE Archive"), {
      tag: "a1",
      name: "CREATE",
      uid: false,
      mailbox: "Archive",
      specialUse: [],
    });
    assert.deepEqual(parseAs("CREATE", "a1 CREATE MySpecial (USE (\\drafts \\Sent))").specialUse, [
      "\\Drafts",
      "\\Sent",
    ]);
    assert.match(parseFails("a1 CREATE x (USE (Sent))").message, /Expected "\\"/);
  });

  test("DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT, GETQUOTA", () => {
    assert.deepEqual(parse("a1 DELETE foo/bar"), {
      tag: "a1",
      name: "DELETE",
      uid: false,
      mailbox: "foo/bar",
    });
    assert.deepEqual(parse('a1 RENAME inbox "Old Mail"'), {
      tag: "a1",
      name: "RENAME",
      uid: false,
      from: "INBOX",
      to: "Old Mail",
    });
    assert.equal(parseAs("SUBSCRIBE", "a1 SUBSCRIBE #news.comp").mailbox, "#news.comp");
    assert.equal(parseAs("UNSUBSCRIBE", "a1 UNSUBSCRIBE x").mailbox, "x");
    assert.equal(parseAs("GETQUOTAROOT", "a1 GETQUOTAROOT INBOX").mailbox, "INBOX");
    assert.deepEqual(parse('a1 GETQUOTA ""'), { tag: "a1", name: "GETQUOTA", uid: false, root: "" });
    assert.match(parseFails("a1 RENAME a").message, /Missing argument/);
  });

  test("STATUS with every item", () => {
    assert.deepEqual(
      parse(
        "a1 STATUS blurdybloop (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT)",
      ),
      {
        tag: "a1",
        name: "STATUS",
        uid: false,
        mailbox: "blurdybloop",
        items: [
          "MESSAGES",
          "RECENT",
          "UIDNEXT",
          "UIDVALIDITY",
          "UNSEEN",
          "DELETED",
          "SIZE",
          "HIGHESTMODSEQ",
          "APPENDLIMIT",
        ],
      },
    );
    assert.match(parseFails("a1 STATUS x ()").message, /status item/);
    assert.match(parseFails("a1 STATUS x (BOGUS)").message, /Unknown status item/);
    assert.match(parseFails("a1 STATUS x MESSAGES").message, /Expected "\("/);
  });

  test("ID with NIL or parameters (RFC 2971)", () => {
    assert.deepEqual(parse("a1 ID NIL"), { tag: "a1", name: "ID", uid: false, parameters: null });
    assert.deepEqual(parseAs("ID", 'a1 ID ("name" "sodr" "version" "19.34" "vendor" NIL)').parameters, [
      ["name", "sodr"],
      ["version", "19.34"],
      ["vendor", null],
    ]);
    assert.match(parseFails('a1 ID ("name")').message, /Expected a space|Missing argument/);
    assert.match(parseFails("a1 ID (name x)").message, /Expected a string/);
  });
});

describe("parseCommand: APPEND", () => {
  test("RFC 3501 example with flags, date-time and a literal", () => {
    const message = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nSubject: hi\r\n\r\nHello Joe\r\n";
    const command = parseAs(
      "APPEND",
      `A003 APPEND saved-messages (\\Seen) "17-Jul-1996 02:44:25 -0700" {${message.length}}\r\n${message}\r\n`,
    );
    assert.equal(command.mailbox, "saved-messages");
    assert.equal(command.messages.length, 1);
    const [first] = command.messages;
    assert.deepEqual(first?.flags, ["\\Seen"]);
    assert.equal(first?.internalDate?.date.toISOString(), "1996-07-17T09:44:25.000Z");
    assert.equal(first?.internalDate?.zoneMinutes, -420);
    assert.equal(first?.data.kind, "buffered");
    assert.equal(first?.data.kind === "buffered" && first.data.data.toString(), message);
  });

  test("optional parts, space-padded day, literal8 and UTF8 data", () => {
    const bare = parseAs("APPEND", "a1 APPEND INBOX {2+}\r\nhi");
    assert.deepEqual(bare.messages[0]?.flags, []);
    assert.equal(bare.messages[0]?.internalDate, null);
    const dated = parseAs("APPEND", 'a1 APPEND INBOX " 7-Feb-1994 21:52:25 +0100" {2+}\r\nhi');
    assert.equal(dated.messages[0]?.internalDate?.date.toISOString(), "1994-02-07T20:52:25.000Z");
    const binary = parseAs("APPEND", "a1 APPEND INBOX () ~{3+}\r\na\0b");
    assert.ok(binary.messages[0]?.data.kind === "buffered" && binary.messages[0].data.binary);
    const utf8 = parseAs("APPEND", "a1 APPEND INBOX UTF8 (~{2+}\r\nhi)");
    assert.equal(utf8.messages[0]?.utf8, true);
  });

  test("MULTIAPPEND (RFC 3502) with streamed and buffered messages", () => {
    const big = "x".repeat(100);
    const framed = frame(
      `a1 APPEND INBOX (\\Seen) {100+}\r\n${big} {3+}\r\nabc () "01-Jan-2020 00:00:00 +0000" {100+}\r\n${big}`,
      {
        maxBufferedLiteralSize: 10,
      },
    );
    const result = parseCommand(framed);
    assert.ok(result.ok && result.command.name === "APPEND");
    const kinds = result.command.messages.map((m) => m.data.kind);
    assert.deepEqual(kinds, ["streamed", "buffered", "streamed"]);
    assert.deepEqual(result.command.messages[0]?.data, {
      kind: "streamed",
      index: 0,
      size: 100,
      binary: false,
    });
    assert.deepEqual(result.command.messages[2]?.data, {
      kind: "streamed",
      index: 2,
      size: 100,
      binary: false,
    });
    assert.equal(result.command.messages[2]?.internalDate?.date.getTime(), Date.UTC(2020, 0, 1));
  });

  test("bad APPENDs", () => {
    assert.match(parseFails('a1 APPEND INBOX "hello"').message, /Invalid date-time/);
    assert.match(
      parseFails('a1 APPEND INBOX "17-Jul-1996 02:44:25 -0700" "hello"').message,
      /must be a literal/,
    );
    assert.match(
      parseFails('a1 APPEND INBOX "31-Feb-2020 00:00:00 +0000" {1+}\r\nx').message,
      /Invalid date-time/,
    );
    assert.match(
      parseFails('a1 APPEND INBOX "1-Jan-2020 00:00:00 +0000" {1+}\r\nx').message,
      /Invalid date-time/,
    );
    assert.match(parseFails("a1 APPEND INBOX (\\Recent) {1+}\r\nx").message, /\\Recent/);
    assert.match(parseFails("a1 APPEND INBOX (\\Seen {1+}\r\nx").message, /Expected flag/);
    assert.match(parseFails("a1 APPEND INBOX").message, /Missing argument/);
    assert.match(parseFails("a1 APPEND INBOX UTF8 ({1+}\r\nx)").message, /literal8/);
    assert.match(parseFails("a1 APPEND INBOX {1+}\r\nx junk").message, /must be a literal/);
  });
});

describe("parseCommand: COPY, MOVE, EXPUNGE and UID variants", () => {
  test("COPY and MOVE", () => {
    assert.deepEqual(parse("A003 COPY 2:4 MEETING"), {
      tag: "A003",
      name: "COPY",
      uid: false,
      sequenceSet: { kind: "ranges", ranges: [{ start: 2, end: 4 }] },
      mailbox: "MEETING",
    });
    assert.deepEqual(parse("a1 UID MOVE 42:69 foo"), {
      tag: "a1",
      name: "MOVE",
      uid: true,
      sequenceSet: { kind: "ranges", ranges: [{ start: 42, end: 69 }] },
      mailbox: "foo",
    });
    assert.equal(parseAs("COPY", "a1 uid copy $ Trash").sequenceSet.kind, "saved");
  });

  test("UID EXPUNGE requires a set", () => {
    assert.deepEqual(parse("a1 UID EXPUNGE 3000:3002"), {
      tag: "a1",
      name: "EXPUNGE",
      uid: true,
      uids: { kind: "ranges", ranges: [{ start: 3000, end: 3002 }] },
    });
    assert.match(parseFails("a1 UID EXPUNGE").message, /Missing argument/);
    assert.match(parseFails("a1 EXPUNGE 1").message, /Unexpected text/);
  });

  test("parse errors report the UID command name", () => {
    assert.equal(parseFails("a1 UID FETCH 0 FLAGS").commandName, "UID FETCH");
  });
});
