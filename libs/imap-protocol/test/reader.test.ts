import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CommandReader, type ReaderEvent } from "../src/reader.ts";
import { readAll } from "./helpers.ts";

function text(buffer: Buffer): string {
  return buffer.toString("latin1");
}

/** Events with literal chunks merged and Buffers as text, for comparisons. */
function normalise(events: ReaderEvent[]): unknown[] {
  const out: unknown[] = [];
  for (const event of events) {
    if (event.kind === "literal-chunk") {
      const last = out[out.length - 1] as { kind: string; data: string } | undefined;
      if (last?.kind === "literal-chunk") last.data += text(event.data);
      else out.push({ kind: "literal-chunk", index: event.index, data: text(event.data) });
    } else if (event.kind === "command") {
      out.push({
        kind: "command",
        tag: event.command.tag,
        name: event.command.commandName,
        segments: event.command.segments.map(text),
        literals: event.command.literals.map((l) =>
          l.kind === "buffered" ? { ...l, data: text(l.data) } : l,
        ),
      });
    } else if (event.kind === "line") {
      out.push({ kind: "line", line: text(event.line) });
    } else {
      out.push(event);
    }
  }
  return out;
}

function feedBytewise(input: Buffer, reader = new CommandReader()): ReaderEvent[] {
  const events: ReaderEvent[] = [];
  for (let i = 0; i < input.length; i++) {
    reader.push(input.subarray(i, i + 1));
    events.push(...reader.drain());
  }
  return events;
}

describe("CommandReader framing", () => {
  test("frames a simple command with CRLF and with a bare LF", () => {
    for (const input of ["a1 NOOP\r\n", "a1 NOOP\n"]) {
      const events = readAll(input);
      assert.equal(events.length, 1);
      const [event] = events;
      assert.equal(event?.kind, "command");
      if (event?.kind !== "command") return;
      assert.equal(event.command.tag, "a1");
      assert.equal(event.command.commandName, "NOOP");
      assert.deepEqual(event.command.segments.map(text), ["a1 NOOP"]);
      assert.deepEqual(event.command.literals, []);
    }
  });

  test("names UID commands with their subcommand", () => {
    const [event] = readAll("x uid fetch 1:* FLAGS\r\n");
    assert.ok(event?.kind === "command");
    assert.equal(event.command.commandName, "UID FETCH");
  });

  test("waits for the end of the line", () => {
    const reader = new CommandReader();
    reader.push(Buffer.from("a1 NO"));
    assert.equal(reader.next(), null);
    reader.push(Buffer.from("OP\r"));
    assert.equal(reader.next(), null);
    reader.push(Buffer.from("\n"));
    assert.equal(reader.next()?.kind, "command");
  });

  test("splits pipelined commands from one buffer, in order", () => {
    const events = readAll("a1 NOOP\r\na2 CAPABILITY\r\n\r\na3 LOGOUT\r\n");
    assert.deepEqual(
      events.map((e) => (e.kind === "command" ? e.command.tag : e.kind)),
      ["a1", "a2", "a3"],
      "the empty line between commands is ignored",
    );
  });

  test("a synchronizing literal asks for a continuation and is buffered", () => {
    const events = normalise(readAll('a1 LOGIN {5}\r\nalice "pw"\r\n'));
    assert.deepEqual(events, [
      { kind: "need-continuation", tag: "a1", commandName: "LOGIN", size: 5 },
      {
        kind: "command",
        tag: "a1",
        name: "LOGIN",
        segments: ["a1 LOGIN {5}", ' "pw"'],
        literals: [{ kind: "buffered", index: 0, data: "alice", binary: false }],
      },
    ]);
  });

  test("the continuation comes before the literal octets are needed", () => {
    const reader = new CommandReader();
    reader.push(Buffer.from("a1 LOGIN {5}\r\n"));
    assert.deepEqual(reader.next(), { kind: "need-continuation", tag: "a1", commandName: "LOGIN", size: 5 });
    assert.equal(reader.next(), null);
    reader.push(Buffer.from("alice pw\r\n"));
    assert.equal(reader.next()?.kind, "command");
  });

  test("non-synchronizing literals (LITERAL+) need no continuation", () => {
    const events = normalise(readAll("a1 LOGIN {5+}\r\nalice {2+}\r\npw\r\n"));
    assert.deepEqual(events, [
      {
        kind: "command",
        tag: "a1",
        name: "LOGIN",
        segments: ["a1 LOGIN {5+}", " {2+}", ""],
        literals: [
          { kind: "buffered", index: 0, data: "alice", binary: false },
          { kind: "buffered", index: 1, data: "pw", binary: false },
        ],
      },
    ]);
  });

  test("literal8 and zero-length literals", () => {
    const events = normalise(readAll("a1 APPEND INBOX ~{3+}\r\na\0b {0}\r\n\r\n"));
    assert.equal(events.length, 2, "{0} is synchronizing: continuation, then the command");
    assert.deepEqual(events[1], {
      kind: "command",
      tag: "a1",
      name: "APPEND",
      segments: ["a1 APPEND INBOX ~{3+}", " {0}", ""],
      literals: [
        { kind: "buffered", index: 0, data: "a\0b", binary: true },
        { kind: "buffered", index: 1, data: "", binary: false },
      ],
    });
  });

  test("literal octets may contain CRLF and braces", () => {
    const events = normalise(readAll("a1 X {7+}\r\n{1}\r\n\r\n\r\n"));
    assert.deepEqual(events, [
      {
        kind: "command",
        tag: "a1",
        name: "X",
        segments: ["a1 X {7+}", ""],
        literals: [{ kind: "buffered", index: 0, data: "{1}\r\n\r\n", binary: false }],
      },
    ]);
  });

  test("a brace inside an unterminated quoted string is not a literal header", () => {
    const events = normalise(readAll('a1 SEARCH SUBJECT "x {5}\r\n'));
    assert.equal(events.length, 1);
    assert.equal((events[0] as { kind: string }).kind, "command");
  });

  test("feeding one byte at a time gives the same events as one buffer", () => {
    const input = Buffer.from(
      "a1 LOGIN {5}\r\nalice {2+}\r\npw\r\n" +
        "a2 SELECT INBOX\nA3 APPEND INBOX (\\Seen) ~{4}\r\nab\0c\r\n" +
        'a4 SEARCH SUBJECT "{3}" BODY {3+}\r\nx}y\r\n\r\na5 LOGOUT\r\n',
    );
    assert.deepEqual(normalise(feedBytewise(input)), normalise(readAll(input)));
  });

  test("splitting at every byte position gives the same events", () => {
    const input = Buffer.from("a1 APPEND INBOX {10}\r\n0123456789 {3+}\r\nabc\r\na2 NOOP\r\n");
    const whole = normalise(readAll(input, { maxBufferedLiteralSize: 4 }));
    for (let split = 0; split <= input.length; split++) {
      const reader = new CommandReader({ maxBufferedLiteralSize: 4 });
      reader.push(input.subarray(0, split));
      const events = reader.drain();
      reader.push(input.subarray(split));
      events.push(...reader.drain());
      assert.deepEqual(normalise(events), whole, `split at ${split}`);
    }
  });
});

describe("CommandReader limits", () => {
  test("a too-long line is discarded and reported with its tag; the next command is fine", () => {
    const reader = new CommandReader({ maxLineLength: 100 });
    reader.push(Buffer.from(`a1 SEARCH SUBJECT ${"x".repeat(500)}\r\na2 NOOP\r\n`));
    const events = reader.drain();
    assert.equal(events.length, 2);
    assert.deepEqual(events[0], {
      kind: "error",
      tag: "a1",
      commandName: "SEARCH",
      code: "line-too-long",
      status: "BAD",
      responseCode: null,
      message: "Line too long",
    });
    assert.ok(events[1]?.kind === "command" && events[1].command.tag === "a2");
  });

  test("a line exactly at the limit is accepted, one more octet is not", () => {
    const line = `a1 X ${"y".repeat(95)}`;
    assert.equal(line.length, 100);
    assert.equal(readAll(`${line}\r\n`, { maxLineLength: 100 })[0]?.kind, "command");
    assert.equal(readAll(`${line}\n`, { maxLineLength: 100 })[0]?.kind, "command");
    assert.equal(readAll(`${line}z\r\n`, { maxLineLength: 100 })[0]?.kind, "error");
  });

  test("an endless line never accumulates: memory stays bounded", () => {
    const reader = new CommandReader({ maxLineLength: 1024 });
    const garbage = Buffer.alloc(64 * 1024, 0x41);
    reader.push(Buffer.from("a1 "));
    for (let i = 0; i < 200; i++) {
      reader.push(garbage);
      assert.equal(reader.next(), null);
      assert.equal(reader.bufferedBytes, 0, "every pushed octet is consumed");
    }
    reader.push(Buffer.from("\r\nb1 NOOP\r\n"));
    const events = reader.drain();
    assert.equal(events[0]?.kind, "error");
    assert.equal(events[0]?.kind === "error" && events[0].tag, "a1");
    assert.ok(events[1]?.kind === "command" && events[1].command.tag === "b1");
  });

  test("a too-long first line without a space has no known tag", () => {
    const [event] = readAll(`${"x".repeat(5000)}\r\n`, { maxLineLength: 100 });
    assert.ok(event?.kind === "error");
    assert.equal(event.tag, null);
  });

  test("a too-long line ending in a synchronizing literal ends the command", () => {
    const events = readAll(`a1 LOGIN ${"u".repeat(300)} {5}\r\na2 NOOP\r\n`, { maxLineLength: 100 });
    assert.deepEqual(
      events.map((e) => e.kind),
      ["error", "command"],
    );
  });

  test("a too-long line ending in a non-synchronizing literal swallows the literal", () => {
    const events = readAll(`a1 LOGIN ${"u".repeat(300)} {5+}\r\nhello\r\na2 NOOP\r\n`, {
      maxLineLength: 100,
    });
    assert.deepEqual(
      events.map((e) => e.kind),
      ["error", "command"],
    );
    assert.ok(events[1]?.kind === "command" && events[1].command.tag === "a2");
  });

  test("a 1 GiB synchronizing literal is rejected without reading it", () => {
    const reader = new CommandReader();
    reader.push(Buffer.from("a1 APPEND INBOX {1073741824}\r\na2 NOOP\r\n"));
    const events = reader.drain();
    assert.deepEqual(events[0], {
      kind: "error",
      tag: "a1",
      commandName: "APPEND",
      code: "literal-too-big",
      status: "NO",
      responseCode: "TOOBIG",
      message: `Literal too big (limit ${64 * 1024 * 1024} octets)`,
    });
    assert.ok(
      events[1]?.kind === "command" && events[1].command.tag === "a2",
      "the next line is a new command",
    );
    assert.equal(events.length, 2, "no continuation was requested");
  });

  test("an absurd literal size is rejected too", () => {
    const [event] = readAll("a1 APPEND INBOX {99999999999999999999999}\r\n");
    assert.ok(event?.kind === "error");
    assert.equal(event.code, "literal-too-big");
  });

  test("a big literal in a command that does not stream is BAD", () => {
    const [event] = readAll(`a1 SEARCH SUBJECT {${128 * 1024}}\r\n`);
    assert.ok(event?.kind === "error");
    assert.equal(event.status, "BAD");
    assert.equal(event.code, "literal-too-big");
  });

  test("a non-synchronizing literal that is too big is swallowed, then reported", () => {
    const reader = new CommandReader({ maxLiteralSize: 50 });
    const events: ReaderEvent[] = [];
    reader.push(Buffer.from("a1 APPEND INBOX {100+}\r\n"));
    events.push(...reader.drain());
    assert.equal(events.length, 0, "the error waits for the end of the command");
    for (let i = 0; i < 10; i++) {
      reader.push(Buffer.alloc(10, 0x61));
      events.push(...reader.drain());
      assert.equal(reader.bufferedBytes, 0);
    }
    reader.push(Buffer.from(" {3+}\r\nabc\r\na2 NOOP\r\n"));
    events.push(...reader.drain());
    assert.deepEqual(
      events.map((e) => (e.kind === "error" ? e.code : e.kind)),
      ["literal-too-big", "command"],
    );
  });

  test("a non-synchronizing literal too big to skip is refused before its octets, and ends the input", () => {
    const reader = new CommandReader();
    reader.push(Buffer.from("a1 APPEND INBOX {2147483648+}\r\n"));
    assert.deepEqual(reader.drain(), [
      {
        kind: "error",
        tag: "a1",
        commandName: "APPEND",
        code: "literal-too-big",
        status: "NO",
        responseCode: "TOOBIG",
        message: `Literal too big (limit ${64 * 1024 * 1024} octets)`,
        closesConnection: true,
      },
    ]);
    // The octets the client sends anyway are neither read nor kept, nor mistaken for commands.
    reader.push(Buffer.alloc(1024 * 1024, 0x61));
    reader.push(Buffer.from("\r\na2 NOOP\r\n"));
    assert.deepEqual(reader.drain(), []);
    assert.equal(reader.bufferedBytes, 0);
  });

  test("a line already refused that ends in a huge non-synchronizing literal closes too", () => {
    const events = readAll(`a1 LOGIN ${"u".repeat(300)} {100000+}\r\nhello\r\na2 NOOP\r\n`, {
      maxLineLength: 100,
    });
    assert.deepEqual(
      events.map((e) => (e.kind === "error" ? `${e.code} ${e.closesConnection}` : e.kind)),
      ["line-too-long true"],
    );
  });

  test("LITERAL- limits non-synchronizing literals to 4096 octets (RFC 7888 §4)", () => {
    const options = { maxNonSyncLiteralSize: 4096 };
    const ok = readAll(`a1 APPEND INBOX {4096+}\r\n${"m".repeat(4096)}\r\n`, options);
    assert.deepEqual(
      ok.map((e) => e.kind),
      ["command"],
    );
    const rejected = readAll(`a1 APPEND INBOX {4097+}\r\n${"m".repeat(4097)}\r\na2 NOOP\r\n`, options);
    assert.deepEqual(
      rejected.map((e) => (e.kind === "error" ? `${e.code} ${e.status} ${e.responseCode}` : e.kind)),
      ["non-sync-literal-too-big BAD TOOBIG", "command"],
    );
    const sync = readAll(`a1 APPEND INBOX {5000}\r\n`, options);
    assert.equal(sync[0]?.kind, "need-continuation", "synchronizing literals are not limited by LITERAL-");
  });

  test("the host can lower the literal limit per command (APPENDLIMIT)", () => {
    const seen: string[] = [];
    const reader = new CommandReader({
      literalLimit: ({ tag, commandName }) => {
        seen.push(`${tag} ${commandName}`);
        return 1000;
      },
    });
    reader.push(Buffer.from("a1 APPEND INBOX {1001}\r\na2 APPEND INBOX {1000}\r\n"));
    const events = reader.drain();
    assert.deepEqual(seen, ["a1 APPEND", "a2 APPEND"]);
    assert.ok(events[0]?.kind === "error" && events[0].responseCode === "TOOBIG");
    assert.equal(events[1]?.kind, "need-continuation");
  });

  test("a command holding too many buffered octets is rejected", () => {
    const reader = new CommandReader({ maxCommandBufferSize: 100 });
    reader.push(
      Buffer.from(`a1 SEARCH TEXT {60+}\r\n${"t".repeat(60)} TEXT {60+}\r\n${"t".repeat(60)}\r\na2 NOOP\r\n`),
    );
    const events = reader.drain();
    assert.deepEqual(
      events.map((e) => (e.kind === "error" ? e.code : e.kind)),
      ["command-too-long", "command"],
    );
  });
});

describe("CommandReader streaming literals", () => {
  test("a large APPEND literal streams as chunks and is never buffered", () => {
    const size = 200 * 1024;
    const body = Buffer.alloc(size, 0x62);
    const reader = new CommandReader();
    reader.push(Buffer.from(`a1 APPEND INBOX (\\Seen) {${size}}\r\n`));
    assert.deepEqual(reader.drain(), [
      { kind: "need-continuation", tag: "a1", commandName: "APPEND", size },
      { kind: "literal-start", tag: "a1", commandName: "APPEND", index: 0, size, binary: false },
    ]);
    let received = 0;
    for (let offset = 0; offset < size; offset += 16 * 1024) {
      reader.push(body.subarray(offset, offset + 16 * 1024));
      for (const event of reader.drain()) {
        if (event.kind === "literal-chunk") {
          received += event.data.length;
          assert.equal(event.index, 0);
        } else {
          assert.equal(event.kind, "literal-end");
        }
      }
      assert.equal(reader.bufferedBytes, 0);
    }
    assert.equal(received, size);
    reader.push(Buffer.from("\r\n"));
    const [command] = reader.drain();
    assert.ok(command?.kind === "command");
    assert.deepEqual(command.command.literals, [{ kind: "streamed", index: 0, size, binary: false }]);
  });

  test("MULTIAPPEND mixes streamed and buffered literals in order", () => {
    const big = "B".repeat(100);
    const events = normalise(
      readAll(`a1 APPEND INBOX {100+}\r\n${big} (\\Seen) {3+}\r\nabc ~{100+}\r\n${big}\r\n`, {
        maxBufferedLiteralSize: 10,
      }),
    );
    assert.deepEqual(events, [
      { kind: "literal-start", tag: "a1", commandName: "APPEND", index: 0, size: 100, binary: false },
      { kind: "literal-chunk", index: 0, data: big },
      { kind: "literal-end", tag: "a1", index: 0 },
      { kind: "literal-start", tag: "a1", commandName: "APPEND", index: 2, size: 100, binary: true },
      { kind: "literal-chunk", index: 2, data: big },
      { kind: "literal-end", tag: "a1", index: 2 },
      {
        kind: "command",
        tag: "a1",
        name: "APPEND",
        segments: ["a1 APPEND INBOX {100+}", " (\\Seen) {3+}", " ~{100+}", ""],
        literals: [
          { kind: "streamed", index: 0, size: 100, binary: false },
          { kind: "buffered", index: 1, data: "abc", binary: false },
          { kind: "streamed", index: 2, size: 100, binary: true },
        ],
      },
    ]);
  });

  test("literal chunks arrive as the octets do, split across pushes", () => {
    const reader = new CommandReader({ maxBufferedLiteralSize: 2 });
    reader.push(Buffer.from("a1 APPEND INBOX {6+}\r\nabc"));
    assert.deepEqual(
      normalise(reader.drain()).map((e) => (e as { kind: string }).kind),
      ["literal-start", "literal-chunk"],
    );
    reader.push(Buffer.from("def\r\n"));
    assert.deepEqual(
      normalise(reader.drain()).map((e) => (e as { kind: string }).kind),
      ["literal-chunk", "literal-end", "command"],
    );
  });
});

describe("CommandReader modes", () => {
  test("raw line mode returns IDLE's DONE as a line even when pipelined", () => {
    const reader = new CommandReader();
    reader.push(Buffer.from("a1 IDLE\r\nDONE\r\na2 NOOP\r\n"));
    const idle = reader.next();
    assert.ok(idle?.kind === "command" && idle.command.commandName === "IDLE");
    reader.setMode("line");
    assert.deepEqual(normalise([reader.next()!]), [{ kind: "line", line: "DONE" }]);
    reader.setMode("command");
    const noop = reader.next();
    assert.ok(noop?.kind === "command" && noop.command.tag === "a2");
  });

  test("raw line mode keeps braces and empty lines (AUTHENTICATE responses)", () => {
    const reader = new CommandReader();
    reader.setMode("line");
    reader.push(Buffer.from("dGVzdA== {5}\r\n\r\n"));
    assert.deepEqual(normalise(reader.drain()), [
      { kind: "line", line: "dGVzdA== {5}" },
      { kind: "line", line: "" },
    ]);
  });

  test("raw line mode still limits line length", () => {
    const reader = new CommandReader({ maxLineLength: 10 });
    reader.setMode("line");
    reader.push(Buffer.from(`${"a".repeat(50)}\r\nok\r\n`));
    const events = reader.drain();
    assert.ok(events[0]?.kind === "error" && events[0].tag === null);
    assert.deepEqual(normalise([events[1]!]), [{ kind: "line", line: "ok" }]);
  });

  test("discardBufferedInput drops plaintext pipelined after STARTTLS", () => {
    const reader = new CommandReader();
    reader.push(Buffer.from("a1 STARTTLS\r\na2 LOGIN evil pw\r\n"));
    const starttls = reader.next();
    assert.ok(starttls?.kind === "command" && starttls.command.commandName === "STARTTLS");
    assert.equal(reader.discardBufferedInput(), "a2 LOGIN evil pw\r\n".length);
    assert.equal(reader.next(), null);
    reader.push(Buffer.from("a3 NOOP\r\n"));
    const noop = reader.next();
    assert.ok(noop?.kind === "command" && noop.command.tag === "a3");
  });
});
