import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { MONTH_NAMES } from "../src/date-time.ts";
import { decodeMutf7, encodeMutf7 } from "../src/mutf7.ts";
import { parseCommand } from "../src/parser.ts";
import { CommandReader, type ReaderEvent } from "../src/reader.ts";
import type { SearchKey } from "../src/search-key.ts";
import {
  compressSequenceSet,
  formatSequenceSet,
  resolveSequenceSet,
  type SequenceRange,
  type SequenceSet,
} from "../src/sequence-set.ts";
import { chunksToBuffer, mailboxNameValue, ResponseEncoder } from "../src/writer.ts";
import { frame } from "./helpers.ts";

const RUNS = { numRuns: 300 };

/** Feeds `input` in the given chunk sizes and parses every command; returns a summary. */
function readAndParse(input: Uint8Array, chunkSizes: number[], options = {}): string[] {
  const reader = new CommandReader({
    maxLineLength: 200,
    maxBufferedLiteralSize: 64,
    maxLiteralSize: 1000,
    ...options,
  });
  const summary: string[] = [];
  const handle = (event: ReaderEvent) => {
    if (event.kind === "command") {
      const result = parseCommand(event.command, { mailboxEncoding: summary.length % 2 ? "utf8" : "mutf7" });
      summary.push(result.ok ? `ok ${result.command.name}` : `bad ${result.error.message}`);
    } else if (event.kind === "literal-chunk") {
      summary.push(`chunk ${event.data.length}`);
    } else {
      summary.push(event.kind);
    }
  };
  let offset = 0;
  let i = 0;
  while (offset < input.length) {
    const size = Math.max(1, chunkSizes[i++ % Math.max(1, chunkSizes.length)] ?? 1);
    reader.push(Buffer.from(input.subarray(offset, offset + size)));
    offset += size;
    for (let event = reader.next(); event; event = reader.next()) handle(event);
  }
  return summary;
}

/** Merges consecutive literal chunk counts, so that different chunkings compare equal. */
function mergeChunks(summary: string[]): string[] {
  const out: string[] = [];
  for (const entry of summary) {
    const last = out[out.length - 1];
    if (entry.startsWith("chunk ") && last?.startsWith("chunk ")) {
      out[out.length - 1] = `chunk ${Number(last.slice(6)) + Number(entry.slice(6))}`;
    } else {
      out.push(entry);
    }
  }
  return out;
}

const IMAP_TOKENS = [
  "a1 ",
  "b2 ",
  "UID ",
  "FETCH ",
  "SEARCH ",
  "STORE ",
  "APPEND ",
  "SELECT ",
  "LIST ",
  "LOGIN ",
  "STATUS ",
  "ID ",
  "INBOX",
  "1:*",
  "0",
  "5",
  ",",
  ":",
  "*",
  "$",
  "(",
  ")",
  "[",
  "]",
  "<0.10>",
  "BODY.PEEK[",
  "HEADER.FIELDS ",
  "OR ",
  "NOT ",
  "CHARSET ",
  "UTF-8 ",
  "FLAGS ",
  "+FLAGS.SILENT ",
  "\\Seen",
  '"',
  "\\",
  "&",
  "-",
  "{3}\r\n",
  "{2+}\r\n",
  "~{4+}\r\n",
  "{99999}\r\n",
  "{1500+}\r\n",
  " ",
  "\r\n",
  "\n",
  "\u00e9",
  "\0",
  "RETURN (",
  "MODSEQ ",
  "(QRESYNC (1 2 ",
  "1-Jan-2020",
];

const imapish = fc
  .array(fc.constantFrom(...IMAP_TOKENS), { maxLength: 40 })
  .map((tokens) => Buffer.from(tokens.join(""), "utf8"));

describe("properties", () => {
  test("random bytes never throw out of the reader or the parser", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }),
        (bytes, sizes) => {
          readAndParse(bytes, sizes);
        },
      ),
      RUNS,
    );
  });

  test("IMAP-like token soup never throws, with LITERAL- limits too", () => {
    fc.assert(
      fc.property(imapish, fc.array(fc.integer({ min: 1, max: 16 }), { maxLength: 8 }), (bytes, sizes) => {
        readAndParse(bytes, sizes);
        readAndParse(bytes, sizes, { maxNonSyncLiteralSize: 4, maxCommandBufferSize: 100 });
      }),
      { numRuns: 500 },
    );
  });

  test("how the input is split never changes what is framed and parsed", () => {
    fc.assert(
      fc.property(
        imapish,
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 8 }),
        (bytes, sizes) => {
          assert.deepEqual(
            mergeChunks(readAndParse(bytes, sizes)),
            mergeChunks(readAndParse(bytes, [bytes.length])),
          );
        },
      ),
      RUNS,
    );
  });

  const sequenceNumber = fc.oneof(fc.integer({ min: 1, max: 0xffffffff }), fc.constant("*" as const));
  const sequenceSet: fc.Arbitrary<SequenceSet> = fc.oneof(
    {
      weight: 9,
      arbitrary: fc
        .array(fc.record({ start: sequenceNumber, end: sequenceNumber }), { minLength: 1, maxLength: 10 })
        .map((ranges): SequenceSet => ({ kind: "ranges", ranges: ranges as SequenceRange[] })),
    },
    { weight: 1, arbitrary: fc.constant<SequenceSet>({ kind: "saved" }) },
  );

  test("sequence sets round-trip through format and parse", () => {
    fc.assert(
      fc.property(sequenceSet, (set) => {
        const text = formatSequenceSet(set);
        const parsed = parseCommand(frame(`a1 UID FETCH ${text} UID`));
        assert.ok(parsed.ok && parsed.command.name === "FETCH");
        // a:a and a are the same range; formatting normalises the former to the latter.
        assert.equal(formatSequenceSet(parsed.command.sequenceSet), text);
        if (set.kind === "ranges" && parsed.command.sequenceSet.kind === "ranges") {
          assert.deepEqual(
            resolveSequenceSet(parsed.command.sequenceSet, 1000),
            resolveSequenceSet(set, 1000),
          );
        }
      }),
      RUNS,
    );
  });

  test("compressed UID lists parse back to the same UIDs", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 200 }), (uids) => {
        const text = compressSequenceSet(uids);
        const parsed = parseCommand(frame(`a1 UID EXPUNGE ${text}`));
        assert.ok(parsed.ok && parsed.command.name === "EXPUNGE" && parsed.command.uids);
        const expanded: number[] = [];
        for (const range of resolveSequenceSet(parsed.command.uids, 500)) {
          for (let n = range.low; n <= range.high; n++) expanded.push(n);
        }
        assert.deepEqual(
          expanded,
          [...new Set(uids)].sort((a, b) => a - b),
        );
      }),
      RUNS,
    );
  });

  const wellFormed = fc
    .string({ unit: "binary", maxLength: 80 })
    .filter((s) => !/\p{Cs}/u.test(s) && !s.includes("\0"));

  test("strings round-trip from the writer through the parser", () => {
    fc.assert(
      fc.property(wellFormed, fc.boolean(), (value, utf8) => {
        const encoded = chunksToBuffer(new ResponseEncoder({ utf8 }).value(value).finish());
        const command = Buffer.concat([
          Buffer.from("a1 LOGIN "),
          encoded.subarray(0, encoded.length - 2),
          Buffer.from(" x\r\n"),
        ]);
        const reader = new CommandReader();
        reader.push(command);
        const framed = reader.drain().find((event) => event.kind === "command");
        assert.ok(framed?.kind === "command");
        const parsed = parseCommand(framed.command);
        assert.ok(parsed.ok && parsed.command.name === "LOGIN", JSON.stringify(value));
        assert.equal(parsed.command.username, value);
      }),
      RUNS,
    );
  });

  test("modified UTF-7 round-trips and mailbox names survive writer → parser", () => {
    fc.assert(
      fc.property(wellFormed, fc.boolean(), (name, utf8) => {
        assert.equal(decodeMutf7(encodeMutf7(name)), name);
        fc.pre(name.toLowerCase() !== "inbox");
        const encoded = chunksToBuffer(
          new ResponseEncoder({ utf8 }).value(mailboxNameValue(name, utf8)).finish(),
        );
        const command = Buffer.concat([Buffer.from("a1 SELECT "), encoded]);
        const reader = new CommandReader();
        reader.push(command);
        const framed = reader.drain().find((event) => event.kind === "command");
        assert.ok(framed?.kind === "command");
        const parsed = parseCommand(framed.command, { mailboxEncoding: utf8 ? "utf8" : "mutf7" });
        assert.ok(parsed.ok && parsed.command.name === "SELECT", JSON.stringify(name));
        assert.equal(parsed.command.mailbox, name);
      }),
      RUNS,
    );
  });

  const searchText = wellFormed.map((s) => s.slice(0, 20));
  const searchKey: fc.Arbitrary<SearchKey> = fc.letrec<{ key: SearchKey }>((tie) => ({
    key: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom<SearchKey>({ key: "ALL" }, { key: "SEEN" }, { key: "UNDRAFT" }, { key: "RECENT" }),
      fc.record({
        key: fc.constantFrom("FROM" as const, "BODY" as const, "TEXT" as const),
        value: searchText,
      }),
      fc.record({ key: fc.constant("KEYWORD" as const), flag: fc.constantFrom("$Junk", "Work", "a.b") }),
      fc.record({
        key: fc.constantFrom("SINCE" as const, "SENTBEFORE" as const),
        date: fc.record({
          year: fc.integer({ min: 1970, max: 2100 }),
          month: fc.integer({ min: 1, max: 12 }),
          day: fc.integer({ min: 1, max: 28 }),
        }),
      }),
      fc.record({ key: fc.constant("LARGER" as const), size: fc.integer({ min: 0, max: 2 ** 40 }) }),
      fc.record({
        key: fc.constant("HEADER" as const),
        field: fc.constantFrom("Subject", "X-Spam"),
        value: searchText,
      }),
      fc.record({ key: fc.constant("UID" as const), set: sequenceSet }),
      fc.record({ key: fc.constant("SEQUENCE" as const), set: sequenceSet }),
      fc.record({
        key: fc.constant("MODSEQ" as const),
        modseq: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
        entry: fc.option(
          fc.record({
            name: fc.constant("/flags/\\draft"),
            type: fc.constantFrom("priv" as const, "all" as const),
          }),
        ),
      }),
      fc.record({ key: fc.constant("NOT" as const), operand: tie("key") }),
      fc.record({ key: fc.constant("OR" as const), left: tie("key"), right: tie("key") }),
      fc.record({
        key: fc.constant("AND" as const),
        operands: fc.array(tie("key"), { minLength: 2, maxLength: 3 }),
      }),
    ),
  })).key;

  function writeSearchKey(key: SearchKey, encoder: ResponseEncoder): void {
    switch (key.key) {
      case "FROM":
      case "BODY":
      case "TEXT":
        encoder.text(`${key.key} `).value(key.value);
        return;
      case "HEADER":
        encoder.text(`HEADER ${key.field} `).value(key.value);
        return;
      case "KEYWORD":
        encoder.text(`KEYWORD ${key.flag}`);
        return;
      case "SINCE":
      case "SENTBEFORE":
        encoder.text(`${key.key} ${key.date.day}-${MONTH_NAMES[key.date.month - 1]}-${key.date.year}`);
        return;
      case "LARGER":
        encoder.text(`LARGER ${key.size}`);
        return;
      case "UID":
        encoder.text(`UID ${formatSequenceSet(key.set)}`);
        return;
      case "SEQUENCE":
        encoder.text(formatSequenceSet(key.set));
        return;
      case "MODSEQ":
        encoder.text(
          key.entry ? `MODSEQ "${key.entry.name.replace(/\\/g, "\\\\")}" ${key.entry.type} ` : "MODSEQ ",
        );
        encoder.text(String(key.modseq));
        return;
      case "NOT":
        encoder.text("NOT ");
        writeSearchKey(key.operand, encoder);
        return;
      case "OR":
        encoder.text("OR ");
        writeSearchKey(key.left, encoder);
        encoder.text(" ");
        writeSearchKey(key.right, encoder);
        return;
      case "AND":
        encoder.text("(");
        key.operands.forEach((operand, index) => {
          if (index > 0) encoder.text(" ");
          writeSearchKey(operand, encoder);
        });
        encoder.text(")");
        return;
      default:
        encoder.text(key.key);
    }
  }

  test("generated search criteria round-trip through the parser, however the bytes are split", () => {
    fc.assert(
      fc.property(
        fc.array(searchKey, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 9 }),
        (keys, chunk) => {
          const encoder = new ResponseEncoder({ utf8: true }).text("s1 UID SEARCH CHARSET UTF-8 ");
          keys.forEach((key, index) => {
            if (index > 0) encoder.text(" ");
            writeSearchKey(key, encoder);
          });
          const bytes = chunksToBuffer(encoder.finish());
          const reader = new CommandReader();
          const events: ReaderEvent[] = [];
          for (let offset = 0; offset < bytes.length; offset += chunk) {
            reader.push(bytes.subarray(offset, offset + chunk));
            events.push(...reader.drain());
          }
          const framed = events.filter((event) => event.kind === "command");
          assert.equal(framed.length, 1);
          const parsed = parseCommand(framed[0]!.command);
          assert.ok(parsed.ok && parsed.command.name === "SEARCH", parsed.ok ? "" : parsed.error.message);
          // structuredClone: fast-check records have a null prototype.
          assert.deepEqual(parsed.command.criteria, structuredClone(keys));
        },
      ),
      RUNS,
    );
  });
});
