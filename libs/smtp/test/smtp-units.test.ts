/**
 * The pure parts of the shared SMTP server: command-line bounding across
 * chunk boundaries, the Received trace header and the message spool.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { spoolMessage } from "../src/message-spool.ts";
import { BoundedCommandStream } from "../src/protocol-connection.ts";
import { receivedHeader } from "../src/trace-headers.ts";

async function commandsOf(chunks: string[]): Promise<string[]> {
  const stream = new BoundedCommandStream({ maxCommandLength: 1024 });
  const seen: string[] = [];
  stream.oncommand = (cmd: Buffer, cb?: () => void) => {
    if (stream.swallowNextCommand) stream.swallowNextCommand = false;
    else seen.push(cmd.toString("latin1").replace("\u0000", "<NUL>"));
    cb?.();
  };
  for (const c of chunks)
    await new Promise<void>((r, j) => stream.write(Buffer.from(c, "latin1"), (e) => (e ? j(e) : r())));
  return seen;
}

test("command lines over 512 octets become one LINE-TOO-LONG, however they are chunked", async () => {
  const long = `MAIL FROM:<${"a".repeat(600)}>\r\n`;
  const expected = ["NOOP", "<NUL>LINE-TOO-LONG", "QUIT"];
  assert.deepEqual(await commandsOf([`NOOP\r\n${long}QUIT\r\n`]), expected);
  for (const size of [1, 7, 100, 511, 512, 513]) {
    const all = `NOOP\r\n${long}QUIT\r\n`;
    const chunks: string[] = [];
    for (let i = 0; i < all.length; i += size) chunks.push(all.slice(i, i + size));
    assert.deepEqual(await commandsOf(chunks), expected, `chunks of ${size}`);
  }
  const exactly512 = `NOOP ${"b".repeat(505)}\r\n`;
  assert.equal(exactly512.length, 512);
  assert.deepEqual(await commandsOf([exactly512]), [`NOOP ${"b".repeat(505)}`]);
});

test("Received header: RFC 5321 §4.4 shape, no header injection from the client's HELO", () => {
  const h = receivedHeader({
    helo: "evil\r\nBcc: x@y",
    clientHostname: "[192.0.2.7]",
    ip: "192.0.2.7",
    hostname: "mx.example",
    protocol: "ESMTPS",
    id: "abc.1",
    recipient: "r@example.com",
    date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
  });
  assert.equal(
    h,
    "Received: from evilBcc:x@y ([192.0.2.7])\r\n\tby mx.example (Aerogram) with ESMTPS id abc.1\r\n\tfor <r@example.com>;\r\n\tFri, 02 Jan 2026 03:04:05 +0000\r\n",
  );
});

test("spool: hashes, measures the longest line, spills to a file past the memory limit", async () => {
  const chunks = [Buffer.from("abc\r\n"), Buffer.from("x".repeat(3000)), Buffer.from("\r\nend\r\n")];
  const spooled = await spoolMessage(
    (async function* () {
      yield* chunks;
    })(),
    { memoryBytes: 1000 },
  );
  assert.equal(spooled.size, 3012);
  assert.equal(spooled.longestLine, 3002);
  const read = async () => {
    const out: Buffer[] = [];
    for await (const c of spooled.open()) out.push(c as Buffer);
    return Buffer.concat(out);
  };
  assert.ok((await read()).equals(Buffer.concat(chunks)));
  assert.ok((await read()).equals(Buffer.concat(chunks)), "readable twice");
  await spooled.dispose();
});
