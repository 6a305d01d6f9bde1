/** Unit and property tests of the pure protocol layer: parser, responses, byte-stuffing, TOP. */
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { test } from "node:test";
import fc from "fast-check";
import {
  createDotStuffTransform,
  DotStuffer,
  err,
  MAX_RESPONSE_OCTETS,
  multiline,
  ok,
  parseCommand,
  pop3Octets,
  TopCutter,
} from "../src/protocol/index.ts";
import { unstuff } from "./helpers.ts";

test("parser: commands and arguments", () => {
  assert.deepEqual(parseCommand("user alice@example.org"), {
    ok: true,
    command: { name: "USER", user: "alice@example.org" },
  });
  assert.deepEqual(parseCommand("PASS two words "), {
    ok: true,
    command: { name: "PASS", password: "two words " },
  });
  assert.deepEqual(parseCommand("LIST"), { ok: true, command: { name: "LIST" } });
  assert.deepEqual(parseCommand("list 3"), { ok: true, command: { name: "LIST", msg: 3 } });
  assert.deepEqual(parseCommand("TOP 2 0"), { ok: true, command: { name: "TOP", msg: 2, lines: 0 } });
  assert.deepEqual(parseCommand("AUTH plain dGVzdA=="), {
    ok: true,
    command: { name: "AUTH", mechanism: "PLAIN", initialResponse: "dGVzdA==" },
  });
  assert.deepEqual(parseCommand("APOP bob c4c9334bac560ecc979e58001b3e22fb"), {
    ok: true,
    command: { name: "APOP", user: "bob", digest: "c4c9334bac560ecc979e58001b3e22fb" },
  });
  assert.equal(parseCommand("RETR 99999999999999999").ok, false);
});

test("parser: errors", () => {
  const cases: [string, string][] = [
    ["", "empty command"],
    ["XYZZY", "unknown command"],
    ["RETR", "usage: RETR msg"],
    ["RETR 0", "invalid message number"],
    ["RETR -1", "invalid message number"],
    ["RETR 1x", "invalid message number"],
    ["DELE 1 2", "usage: DELE msg"],
    ["TOP 1", "usage: TOP msg lines"],
    ["TOP 1 -2", "invalid line count"],
    ["STAT 1", "STAT takes no arguments"],
    ["PASS", "PASS needs a password"],
    [`USER ${"a".repeat(256)}`, "argument too long"],
    ["USER a\0b", "control characters in arguments"],
    ["APOP bob nothex", "usage: APOP name digest"],
  ];
  for (const [line, message] of cases) {
    const r = parseCommand(line);
    assert.equal(r.ok, false, line);
    if (!r.ok) assert.equal(r.message, message, line);
  }
  // 255 octets is fine (RFC 2449 §4); AUTH initial responses may be longer (RFC 5034 §4).
  assert.equal(parseCommand(`USER ${"a".repeat(255)}`).ok, true);
  assert.equal(parseCommand(`AUTH PLAIN ${"A".repeat(1000)}`).ok, true);
});

test("parser: never throws, always answers (property)", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 600 }), (line) => {
      const r = parseCommand(line);
      assert.equal(typeof r.ok, "boolean");
      if (!r.ok) assert.ok(r.message.length > 0);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.constantFrom("USER", "PASS", "APOP", "AUTH", "LIST", "UIDL", "RETR", "DELE", "TOP", "STAT", "quit"),
      fc.array(fc.oneof(fc.nat().map(String), fc.string({ maxLength: 300 })), { maxLength: 4 }),
      (keyword, args) => {
        parseCommand([keyword, ...args].join(" "));
      },
    ),
  );
});

test("responses: codes, 512-octet limit, no control characters", () => {
  assert.equal(ok("hi").toString(), "+OK hi\r\n");
  assert.equal(err("locked", "IN-USE").toString(), "-ERR [IN-USE] locked\r\n");
  assert.equal(err("x\r\ny").toString(), "-ERR x??y\r\n");
  const long = err("z".repeat(2000), "SYS/TEMP");
  assert.equal(long.length, MAX_RESPONSE_OCTETS);
  assert.ok(long.toString().endsWith("\r\n"));
  assert.equal(multiline("list", ["1 10", ".dot"]).toString(), "+OK list\r\n1 10\r\n..dot\r\n.\r\n");
});

/** Reference: the message in CRLF form with a final line ending. */
function crlfForm(message: Buffer): Buffer {
  let s = message.toString("latin1").replace(/\r?\n/g, "\r\n");
  if (s.length > 0 && !s.endsWith("\r\n")) s += s.endsWith("\r") ? "\n" : "\r\n";
  return Buffer.from(s, "latin1");
}

function stuffInChunks(message: Buffer, cuts: number[]): { out: Buffer; stuffer: DotStuffer } {
  const stuffer = new DotStuffer();
  const parts: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts.filter((c) => c <= message.length)].sort((a, b) => a - b)) {
    parts.push(stuffer.push(message.subarray(at, c)));
    at = c;
  }
  parts.push(stuffer.push(message.subarray(at)), stuffer.end());
  return { out: Buffer.concat(parts), stuffer };
}

test("dot-stuffing: examples", () => {
  const { out } = stuffInChunks(Buffer.from(".a\n..b\r\nc.\n."), [1, 3]);
  assert.equal(out.toString(), "..a\r\n...b\r\nc.\r\n..\r\n.\r\n");
  assert.equal(stuffInChunks(Buffer.alloc(0), []).out.toString(), ".\r\n");
  // A CR at one chunk's end and its LF at the next chunk's start stay one CRLF.
  assert.equal(stuffInChunks(Buffer.from("a\r\n.b"), [2]).out.toString(), "a\r\n..b\r\n.\r\n");
});

test("dot-stuffing: round-trips across any chunking, and counts the octets (property)", () => {
  const bytes = fc.array(fc.constantFrom(...Buffer.from(".\r\nab. \x00\xff")), { maxLength: 300 });
  fc.assert(
    fc.property(bytes, fc.array(fc.nat(300), { maxLength: 8 }), (arr, cuts) => {
      const message = Buffer.from(arr);
      const { out, stuffer } = stuffInChunks(message, cuts);
      assert.ok(out.subarray(-3).equals(Buffer.from(".\r\n")));
      const body = out.subarray(0, out.length - 3);
      // No line of the body is a lone "." (that would end the response early).
      assert.ok(!`\r\n${body.toString("latin1")}`.includes("\r\n.\r\n"));
      // Every LF has its CR.
      assert.ok(!/(^|[^\r])\n/.test(body.toString("latin1")));
      const expected = crlfForm(message);
      assert.deepEqual(unstuff(body), expected);
      assert.equal(stuffer.messageOctets, expected.length);
    }),
    { numRuns: 1000 },
  );
});

test("dot-stuffing: a message already in CRLF form is stuffed the same by the fast path (property)", () => {
  const bytes = fc.array(fc.constantFrom(...Buffer.from(".\r\nab. \x00\xff")), { maxLength: 300 });
  fc.assert(
    fc.property(bytes, (arr) => {
      // The fast path's precondition, as RETR checks it: RETR size == stored size.
      const message = crlfForm(Buffer.from(arr));
      const slow = stuffInChunks(message, []);
      const fast = new DotStuffer();
      const parts: Buffer[] = [];
      fast.pushCrlfMessageInto(message, parts);
      parts.push(fast.end());
      assert.deepEqual(Buffer.concat(parts), slow.out);
      assert.equal(fast.messageOctets, slow.stuffer.messageOctets);
      assert.equal(fast.messageOctets, message.length);
    }),
    { numRuns: 1000 },
  );
});

test("dot-stuffing: as a Transform and as a size count", async () => {
  const source = Readable.from([Buffer.from(".x\n"), Buffer.from("y")]);
  assert.equal(await text(source.pipe(createDotStuffTransform())), "..x\r\ny\r\n.\r\n");
  assert.equal(await pop3Octets([Buffer.from("a\nb\r\n")]), 6);
});

test("TOP: header, blank line, first n body lines, across chunks", () => {
  const msg = Buffer.from("A: 1\r\nB: 2\r\n\r\nl1\r\nl2\nl3\r\n");
  const cutAll = (n: number, size: number) => {
    const cutter = new TopCutter(n);
    const out: Buffer[] = [];
    for (let i = 0; i < msg.length && !cutter.done; i += size)
      out.push(cutter.push(msg.subarray(i, i + size)));
    return Buffer.concat(out).toString();
  };
  for (const size of [1, 3, 100]) {
    assert.equal(cutAll(0, size), "A: 1\r\nB: 2\r\n\r\n");
    assert.equal(cutAll(2, size), "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\n");
    assert.equal(cutAll(10, size), msg.toString());
  }
  // Bare-LF header end.
  const lf = new TopCutter(0);
  assert.equal(lf.push(Buffer.from("A: 1\n\nbody\n")).toString(), "A: 1\n\n");
});
