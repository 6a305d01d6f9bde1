/**
 * Fuzzing (fast-check) of every parser that reads bytes from the network or
 * from senders: the IMAP command reader and parser, the POP3 command parser
 * and line splitter, the PROXY protocol header parser and the MIME indexer.
 * The properties: never throw (anything but a typed error result), never hang
 * (each case is timed), buffer only what the limits allow, and keep each
 * parser's own invariants. FUZZ_RUNS cases per property (300 in the short form,
 * 20,000 with chaos:full); FUZZ_SEED replays a run. Crashers found are kept in
 * fixtures/ and replayed first.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CommandReader, parseCommand as parseImap, type ReaderEvent } from "@aerogram/imap-protocol";
import { createIndexer, indexMessageSync, type MessageIndex, type PartNode } from "@aerogram/mime";
import {
  encodeProxyV1,
  encodeProxyV2,
  LineSplitter,
  PROXY_V1_MAX_LENGTH,
  parseProxyHeader,
} from "@aerogram/net";
import fc from "fast-check";
import {
  COMMAND_NAMES,
  MAX_ARGUMENT_OCTETS,
  parseCommand as parsePop3,
} from "../../services/pop3/src/protocol/index.ts";
import { FUZZ_RUNS, report } from "./support.ts";

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const params = { numRuns: FUZZ_RUNS, ...(seed !== undefined ? { seed } : {}) };
/** A case slower than this on small input is a hang (generous: this machine is loaded). */
const CASE_MS = 5_000;
let cases = 0;
const counts: Record<string, number> = {};

/** Runs a property, counting its cases, and fails any case that runs longer than CASE_MS. */
function check<T>(name: string, arb: fc.Arbitrary<T>, body: (value: T) => void, runs = params.numRuns): void {
  fc.assert(
    fc.property(arb, (value) => {
      cases++;
      counts[name] = (counts[name] ?? 0) + 1;
      const started = performance.now();
      body(value);
      const ms = performance.now() - started;
      assert.ok(ms < CASE_MS, `${name}: one case took ${ms.toFixed(0)} ms`);
    }),
    { ...params, numRuns: runs },
  );
}

after(() => report("fuzz-parsers", { cases, ...counts }));

const FIXTURES = join(import.meta.dirname, "fixtures");
function fixtures(prefix: string): Buffer[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.startsWith(prefix))
    .sort()
    .map((f) => readFileSync(join(FIXTURES, f)));
}

/** Byte-level mutations of a seed: flips, inserts, deletes, duplicated runs, truncation. */
function mutated(seeds: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ op: fc.constant("flip" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
    fc.record({ op: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ op: fc.constant("dup" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 200 }) }),
    fc.record({ op: fc.constant("cut" as const), at: fc.nat() }),
  );
  return fc.tuple(seeds, fc.array(edit, { minLength: 1, maxLength: 8 })).map(([seedBuf, edits]) => {
    let b = Buffer.from(seedBuf);
    for (const e of edits) {
      const at = b.length === 0 ? 0 : e.at % (b.length + 1);
      if (e.op === "flip") {
        if (b.length > 0) b[at % b.length] = e.byte;
      } else if (e.op === "insert") b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
      else if (e.op === "delete") b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.length)]);
      else if (e.op === "dup") b = Buffer.concat([b.subarray(0, at + e.length), b.subarray(at)]);
      else b = b.subarray(0, at);
    }
    return b;
  });
}

/** Splits a buffer at the given (wrapped) sizes. */
function chunk(input: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  for (let at = 0; at < input.length; ) {
    const size = Math.max(1, sizes.length ? sizes[i++ % sizes.length]! : input.length);
    out.push(input.subarray(at, at + size));
    at += size;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// IMAP

const IMAP_LIMITS = {
  maxLineLength: 512,
  maxBufferedLiteralSize: 256,
  maxLiteralSize: 4096,
  maxCommandBufferSize: 2048,
  maxNonSyncLiteralSize: 1024,
};

const IMAP_SEEDS = [
  "a1 LOGIN alice secret",
  'a2 LOGIN "ali\\"ce" {6}\r\nsecret',
  "a3 SELECT INBOX (CONDSTORE)",
  "a4 UID FETCH 1:*,7 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> BINARY[1.2] MODSEQ) (CHANGEDSINCE 12 VANISHED)",
  'a5 SEARCH CHARSET UTF-8 OR (FROM "x" SINCE 1-Jan-2020) NOT (LARGER 100 UID 1:5) TEXT {3+}\r\nabc',
  "a6 STORE 1:3 +FLAGS.SILENT (\\Seen $Junk) (UNCHANGEDSINCE 5)",
  'a7 APPEND INBOX (\\Seen) "01-Jan-2020 10:00:00 +0000" {12}\r\nSubject: x\r\n',
  "a8 APPEND INBOX ~{5}\r\na\0b\0c",
  'a9 LIST (SUBSCRIBED) "" ("INBOX" "Sent*") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))',
  "b1 STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ SIZE)",
  "b2 UID MOVE 1:4 &AOk-t&AOk-",
  "b3 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
  "b4 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
  "b5 ENABLE CONDSTORE UTF8=ACCEPT",
  "b6 IDLE",
  "b7 COPY 2:4 Trash",
  "b8 EXPUNGE",
  "b9 UID EXPUNGE 3:5",
  "c1 GETQUOTAROOT INBOX",
  'c2 ID ("name" "x" "version" NIL)',
].map((s) => Buffer.from(`${s}\r\n`, "latin1"));

/** Structured IMAP input from grammar pieces, so the parser gets past the tag and name. */
const imapToken = fc.oneof(
  fc.constantFrom(
    "FETCH",
    "UID",
    "SEARCH",
    "STORE",
    "APPEND",
    "SELECT",
    "EXAMINE",
    "LIST",
    "LSUB",
    "STATUS",
    "LOGIN",
    "AUTHENTICATE",
    "IDLE",
    "COPY",
    "MOVE",
    "EXPUNGE",
    "CREATE",
    "DELETE",
    "RENAME",
    "ENABLE",
    "NOOP",
    "CAPABILITY",
    "ID",
    "NAMESPACE",
    "UNSELECT",
    "CLOSE",
    "GETQUOTA",
    "SETQUOTA",
    "STARTTLS",
    "LOGOUT",
    "BODY[",
    "BODY.PEEK[",
    "]",
    "BINARY[",
    "HEADER.FIELDS",
    "MIME",
    "TEXT",
    "<0.10>",
    "<4294967296.1>",
    "(",
    ")",
    "NIL",
    "*",
    "1:*",
    "1,3:5",
    "$",
    "0",
    "4294967296",
    "99999999999999999999",
    "\\Seen",
    "\\Deleted",
    "+FLAGS",
    "-FLAGS.SILENT",
    "CHANGEDSINCE",
    "UNCHANGEDSINCE",
    "MODSEQ",
    "CHARSET",
    "UTF-8",
    "OR",
    "NOT",
    "SINCE",
    "1-Jan-2020",
    "32-Foo-99999",
    '"01-Jan-2020 10:00:00 +0000"',
    "RETURN",
    "(MIN MAX COUNT ALL SAVE)",
    "INBOX",
    "&AOk-",
    "&-",
    "&",
    '""',
    '"a\\"b"',
    '"\\\\"',
    "{0}",
    "{5}",
    "{5+}",
    "~{3}",
    "{99999999999}",
    "{18446744073709551616}",
    "{-1}",
    "{1+}",
    "QRESYNC",
    "VANISHED",
  ),
  fc.string({ maxLength: 12 }),
  fc.stringMatching(/^[A-Za-z0-9.:*,<>$-]{1,10}$/),
);
const imapCommand = fc
  .tuple(
    fc.oneof(fc.stringMatching(/^[A-Za-z0-9.]{1,6}$/), fc.constantFrom("*", "+", "", "a b", "{1}")),
    fc.array(imapToken, { maxLength: 12 }),
    fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 3 }),
  )
  .map(([tag, tokens, literals]) => {
    let text = `${tag} ${tokens.join(" ")}`;
    // Append well-formed literals so the framer hands the parser their octets.
    for (const lit of literals) text += ` {${lit.length}}\r\n${Buffer.from(lit).toString("latin1")}`;
    return Buffer.from(`${text}\r\n`, "latin1");
  });

function readAndParseImap(input: Buffer, sizes: readonly number[]): void {
  const reader = new CommandReader(IMAP_LIMITS);
  const onEvent = (event: ReaderEvent) => {
    if (event.kind === "command") {
      const { command } = event;
      let held = 0;
      for (const s of command.segments) held += s.length;
      for (const l of command.literals) if (l.kind === "buffered") held += l.data.length;
      assert.ok(
        held <= IMAP_LIMITS.maxCommandBufferSize + IMAP_LIMITS.maxLineLength,
        `command holds ${held} octets`,
      );
      for (const s of command.segments)
        assert.ok(s.length <= IMAP_LIMITS.maxLineLength + 2, "segment over the line limit");
      const result = parseImap(command, { mailboxEncoding: sizes.length % 2 ? "utf8" : "mutf7" });
      if (!result.ok) assert.equal(typeof result.error.message, "string");
    } else if (event.kind === "literal-chunk") {
      assert.ok(event.data.length <= input.length);
    } else if (event.kind === "error") {
      assert.ok(["BAD", "NO"].includes(event.status));
    }
  };
  for (const piece of chunk(input, sizes)) {
    reader.push(piece);
    for (let event = reader.next(); event; event = reader.next()) onEvent(event);
    // Everything pushed was framed (or dropped under a limit) once the host pulled all events.
    assert.equal(reader.bufferedBytes, 0, "input left unframed after pulling every event");
  }
  // What a partial command may still hold is bounded by the limits, not by the input.
  const held = reader.discardBufferedInput();
  assert.ok(held <= IMAP_LIMITS.maxLineLength + 2, `reader holds ${held} octets of a partial line`);
}

const sizes = fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 6 });

describe("IMAP command reader + parser", () => {
  test("regression fixtures", () => {
    for (const input of fixtures("imap-")) readAndParseImap(input, []);
  });
  test("random bytes, random chunking", () => {
    check("imap-random", fc.tuple(fc.uint8Array({ maxLength: 3000 }), sizes), ([bytes, s]) =>
      readAndParseImap(Buffer.from(bytes), s),
    );
  });
  test("structured commands (grammar pieces, well-formed literals)", () => {
    check(
      "imap-structured",
      fc.tuple(fc.array(imapCommand, { minLength: 1, maxLength: 5 }), sizes),
      ([cmds, s]) => readAndParseImap(Buffer.concat(cmds), s),
    );
  });
  test("mutated valid commands", () => {
    check("imap-mutated", fc.tuple(mutated(fc.constantFrom(...IMAP_SEEDS)), sizes), ([input, s]) =>
      readAndParseImap(input, s),
    );
  });
  test("huge literal announcements are refused without buffering", () => {
    const cmd = fc.constantFrom("APPEND INBOX", "LOGIN", "SEARCH TEXT", "a");
    // A synchronizing literal over the limit is refused at once: no "+" continuation, nothing read.
    check(
      "imap-huge-literal",
      fc.tuple(cmd, fc.bigInt({ min: 4097n, max: 2n ** 70n }), fc.uint8Array({ maxLength: 1000 })),
      ([name, n, tail]) => {
        const reader = new CommandReader(IMAP_LIMITS);
        reader.push(Buffer.from(`t1 ${name} {${n}}\r\n`));
        reader.push(Buffer.from(tail));
        const events = reader.drain();
        assert.ok(
          events.some((e) => e.kind === "error"),
          `no error for {${n}}: ${events.map((e) => e.kind).join(",")}`,
        );
        assert.ok(!events.some((e) => e.kind === "need-continuation"), "asked for a literal over the limit");
        assert.equal(reader.bufferedBytes, 0);
        assert.ok(reader.discardBufferedInput() <= IMAP_LIMITS.maxLineLength + 2);
      },
      Math.min(params.numRuns, 500),
    );
    // A non-synchronizing one cannot be refused before its octets arrive (the client sends them
    // anyway, RFC 7888): they are skipped, never buffered, and the command is refused after them.
    check(
      "imap-huge-nonsync-literal",
      fc.tuple(cmd, fc.integer({ min: IMAP_LIMITS.maxNonSyncLiteralSize + 1, max: 6000 }), sizes),
      ([name, n, s]) => {
        const reader = new CommandReader(IMAP_LIMITS);
        const events: ReaderEvent[] = [];
        const input = Buffer.concat([
          Buffer.from(`t1 ${name} {${n}+}\r\n`),
          Buffer.alloc(n, 0x61),
          Buffer.from(" x\r\n"),
        ]);
        for (const piece of chunk(input, s)) {
          reader.push(piece);
          events.push(...reader.drain());
          assert.equal(reader.bufferedBytes, 0, "non-synchronizing literal octets are not buffered");
        }
        assert.deepEqual(
          events
            .filter(
              (e) => e.kind !== "literal-start" && e.kind !== "literal-chunk" && e.kind !== "literal-end",
            )
            .map((e) => e.kind),
          ["error"],
        );
      },
      Math.min(params.numRuns, 500),
    );
    // One too big to skip is refused at its header, before any octet, and the reader stops.
    check(
      "imap-unskippable-nonsync-literal",
      fc.tuple(cmd, fc.bigInt({ min: 65_537n, max: 2n ** 70n }), fc.uint8Array({ maxLength: 1000 })),
      ([name, n, tail]) => {
        const reader = new CommandReader(IMAP_LIMITS);
        reader.push(Buffer.from(`t1 ${name} {${n}+}\r\n`));
        const events = reader.drain();
        assert.equal(events.length, 1);
        assert.ok(events[0]?.kind === "error" && events[0].closesConnection === true);
        reader.push(Buffer.from(tail));
        assert.deepEqual(reader.drain(), []);
        assert.equal(reader.bufferedBytes, 0);
      },
      Math.min(params.numRuns, 500),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// POP3

const POP3_MAX_LINE = 512;
const pop3Line = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc
    .tuple(
      fc.constantFrom(...COMMAND_NAMES, ...COMMAND_NAMES.map((c) => c.toLowerCase()), "XTND", ""),
      fc.array(
        fc.oneof(
          fc.constantFrom(
            "0",
            "1",
            "-1",
            "+1",
            "00001",
            "2147483648",
            "999999999999999",
            "9".repeat(300),
            "",
            " ",
          ),
          fc.string({ maxLength: 20 }),
          fc.nat().map(String),
        ),
        { maxLength: 4 },
      ),
    )
    .map(([name, args]) => [name, ...args].join(" ")),
);

describe("POP3 parser", () => {
  test("regression fixtures", () => {
    for (const input of fixtures("pop3-"))
      for (const line of input.toString("latin1").split("\r\n")) parsePop3(line);
  });
  test("any line parses to a well-formed command or an error", () => {
    check("pop3-parse", pop3Line, (line) => {
      const r = parsePop3(line);
      if (!r.ok) {
        assert.equal(typeof r.message, "string");
        return;
      }
      const c = r.command as Record<string, unknown>;
      assert.ok(COMMAND_NAMES.includes(r.command.name));
      for (const k of ["msg", "lines"]) {
        if (k in c) {
          const n = c[k] as number;
          assert.ok(Number.isSafeInteger(n) && n >= 0 && n <= 2 ** 31 - 1, `${k}=${n}`);
        }
      }
      if (r.command.name === "USER") assert.ok(Buffer.byteLength(r.command.user) <= MAX_ARGUMENT_OCTETS);
      if (r.command.name === "PASS") assert.ok(!/[\0-\x1f\x7f]/.test(r.command.password));
    });
  });
  test("line splitter + parser on random byte streams: no line over the limit", () => {
    check(
      "pop3-stream",
      fc.tuple(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 700 }),
            pop3Line.map((l) => Buffer.from(`${l}\r\n`)),
          ),
        ),
        sizes,
      ),
      ([parts, s]) => {
        const splitter = new LineSplitter(POP3_MAX_LINE);
        const input = Buffer.concat(parts.map((p) => Buffer.from(p)));
        for (const piece of chunk(input, s)) {
          for (const event of splitter.push(piece)) {
            if (event.kind === "line") {
              assert.ok(event.line.length <= POP3_MAX_LINE + 1);
              parsePop3(event.line.toString("utf8"));
            }
          }
        }
      },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// PROXY protocol

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join("."));
const ipv6 = fc
  .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
  .map((g) => g.map((x) => x.toString(16)).join(":"));
const port = fc.nat(65535);
const proxyHeader = fc.oneof(
  fc.record({
    command: fc.constant("proxy" as const),
    family: fc.constant("tcp4" as const),
    source: fc.record({ address: ipv4, port }),
    destination: fc.record({ address: ipv4, port }),
  }),
  fc.record({
    command: fc.constant("proxy" as const),
    family: fc.constant("tcp6" as const),
    source: fc.record({ address: ipv6, port }),
    destination: fc.record({ address: ipv6, port }),
  }),
  fc.record({
    command: fc.constantFrom("proxy" as const, "local" as const),
    family: fc.constant("unknown" as const),
  }),
);
const proxyEncoded = fc.oneof(
  proxyHeader.map((h) => encodeProxyV1(h)),
  fc
    .tuple(
      proxyHeader,
      fc.array(fc.record({ type: fc.nat(255), value: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 3 }),
    )
    .map(([h, tlvs]) =>
      encodeProxyV2(
        h,
        tlvs.map((t) => ({ type: t.type, value: Buffer.from(t.value) })),
      ),
    ),
);

function parseProxyChecked(buf: Buffer): void {
  const r = parseProxyHeader(buf);
  if (r.kind === "header") {
    assert.ok(r.length > 0 && r.length <= buf.length, `length ${r.length} of ${buf.length}`);
    if (r.header.version === 1) assert.ok(r.length <= PROXY_V1_MAX_LENGTH);
    for (const a of [r.header.source, r.header.destination]) {
      if (a) assert.ok(Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535, `port ${a.port}`);
    }
  } else if (r.kind === "incomplete") {
    // An incomplete v1 header can never need more than its maximum length.
    if (buf.subarray(0, 6).toString("latin1") === "PROXY ") assert.ok(buf.length < PROXY_V1_MAX_LENGTH);
  } else assert.equal(typeof r.message, "string");
}

describe("PROXY header parser", () => {
  test("regression fixtures", () => {
    for (const input of fixtures("proxy-")) parseProxyChecked(input);
  });
  test("random bytes (and random bytes after a v1/v2 signature)", () => {
    check(
      "proxy-random",
      fc.tuple(
        fc.constantFrom("", "PROXY ", "PROXY TCP4 ", "\r\n\r\n\0\r\nQUIT\n"),
        fc.uint8Array({ maxLength: 300 }),
      ),
      ([prefix, bytes]) => parseProxyChecked(Buffer.concat([Buffer.from(prefix, "latin1"), bytes])),
    );
  });
  test("valid headers round-trip; every strict prefix is incomplete", () => {
    check("proxy-roundtrip", fc.tuple(proxyEncoded, fc.uint8Array({ maxLength: 20 })), ([encoded, data]) => {
      const r = parseProxyHeader(Buffer.concat([encoded, data]));
      assert.equal(r.kind, "header");
      if (r.kind === "header") assert.equal(r.length, encoded.length);
      for (let n = 0; n < encoded.length; n++)
        assert.equal(parseProxyHeader(encoded.subarray(0, n)).kind, "incomplete");
    });
  });
  test("mutated valid headers", () => {
    check("proxy-mutated", mutated(proxyEncoded), parseProxyChecked);
  });
});

// ---------------------------------------------------------------------------------------------
// MIME indexer

const CORPUS_DIR = join(import.meta.dirname, "../../libs/mime/test/fixtures/corpus");
const corpus = readdirSync(CORPUS_DIR)
  .filter((f) => f.endsWith(".eml"))
  .sort()
  .map((f) => readFileSync(join(CORPUS_DIR, f)));

function checkIndex(index: MessageIndex, bytes: Buffer): void {
  assert.equal(index.size, bytes.length);
  const root = index.parts;
  assert.equal(root.headerStart, 0);
  const walk = (node: PartNode, lo: number, hi: number) => {
    assert.ok(lo <= node.headerStart, `${node.section}: headerStart ${node.headerStart} < ${lo}`);
    assert.ok(node.headerStart <= node.bodyStart, `${node.section}: header after body`);
    assert.ok(node.bodyStart <= node.bodyEnd, `${node.section}: body ends before it starts`);
    assert.ok(node.bodyEnd <= hi, `${node.section}: bodyEnd ${node.bodyEnd} > ${hi}`);
    assert.equal(node.size, node.bodyEnd - node.bodyStart, `${node.section}: size`);
    assert.ok(node.lines >= 0);
    let previousEnd = node.bodyStart;
    for (const child of node.children ?? []) {
      walk(child, node.bodyStart, node.bodyEnd);
      assert.ok(child.headerStart >= previousEnd, `${child.section}: overlaps its sibling`);
      previousEnd = child.bodyEnd;
    }
    if (node.message) walk(node.message, node.bodyStart, node.bodyEnd);
  };
  walk(root, 0, bytes.length);
  for (const s of [index.envelopeImap, index.bodyStructureImap, index.bodyImap]) {
    assert.ok(s.startsWith("(") && s.endsWith(")"), "IMAP syntax is parenthesised");
  }
}

function indexChecked(bytes: Buffer, s: readonly number[]): void {
  const whole = indexMessageSync(bytes);
  checkIndex(whole, bytes);
  // Streaming in arbitrary chunks gives the same index as one buffer.
  const indexer = createIndexer();
  for (const piece of chunk(bytes, s)) indexer.write(piece);
  assert.deepEqual(indexer.end(), whole);
}

describe("MIME indexer", () => {
  test("regression fixtures", () => {
    for (const input of fixtures("mime-")) indexChecked(input, [7]);
  });
  test("mutated corpus messages", () => {
    check(
      "mime-mutated",
      fc.tuple(
        mutated(fc.constantFrom(...corpus)),
        fc.array(fc.integer({ min: 1, max: 4096 }), { maxLength: 4 }),
      ),
      ([bytes, s]) => indexChecked(bytes, s),
      Math.max(1, Math.floor(params.numRuns / 2)),
    );
  });
  test("random bytes and structured multiparts", () => {
    const boundary = fc.constantFrom("b", "x", "=_", "a b", "");
    const structured = fc
      .tuple(
        boundary,
        fc.array(
          fc.tuple(
            fc.constantFrom("text/plain", "message/rfc822", "multipart/mixed; boundary=b", "image/png"),
            fc.string({ maxLength: 60 }),
          ),
          { maxLength: 5 },
        ),
        fc.boolean(),
      )
      .map(([b, parts, close]) => {
        let s = `Content-Type: multipart/mixed; boundary="${b}"\r\n\r\npre\r\n`;
        for (const [type, body] of parts) s += `--${b}\r\nContent-Type: ${type}\r\n\r\n${body}\r\n`;
        if (close) s += `--${b}--\r\n`;
        return Buffer.from(s, "utf8");
      });
    check(
      "mime-random",
      fc.tuple(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)),
          structured,
        ),
        sizes,
      ),
      ([bytes, s]) => indexChecked(bytes, s),
    );
  });
  test("deep nesting stays bounded", () => {
    // 5,000 nested multiparts / message/rfc822: no stack overflow, no quadratic blow-up.
    for (const type of ["multipart/mixed; boundary=", "message/rfc822"]) {
      let s = "";
      for (let i = 0; i < 5000; i++)
        s += type.startsWith("multipart")
          ? `Content-Type: ${type}b${i}\r\n\r\n--b${i}\r\n`
          : `Content-Type: ${type}\r\n\r\n`;
      s += "\r\nbody\r\n";
      const started = performance.now();
      indexChecked(Buffer.from(s), [1000]);
      assert.ok(performance.now() - started < 20_000);
      cases++;
    }
  });
});
