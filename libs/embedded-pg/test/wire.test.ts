/**
 * The protocol pieces of the session server: messages cut out of arbitrary
 * TCP chunks, statement and portal names renamed in every message that names
 * one, ReadyForQuery recognised at the end of a reply.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { backendName, MessageReader, readyForQuery, readyStatus, rewriteNames } from "../src/wire.ts";

function typed(type: string, ...parts: (string | Buffer)[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(`${p}\0`) : p)));
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function startup(): Buffer {
  const body = Buffer.from("user\0postgres\0\0");
  const b = Buffer.alloc(8);
  b.writeInt32BE(8 + body.length, 0);
  b.writeInt32BE(196608, 4);
  return Buffer.concat([b, body]);
}

test("messages are cut out of chunks split anywhere", () => {
  const stream = Buffer.concat([
    startup(),
    typed("P", "name", "SELECT $1", Buffer.from([0, 0])),
    typed("S"),
    typed("Q", "SELECT 1"),
  ]);
  for (let cut = 1; cut < stream.length; cut++) {
    const r = new MessageReader();
    const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
    assert.deepEqual(
      got.map((m) => (m.kind === "typed" ? m.type : m.kind)),
      ["startup", "P", "S", "Q"],
      `cut at ${cut}`,
    );
  }
});

test("an SSL request comes before the startup message", () => {
  const ssl = Buffer.alloc(8);
  ssl.writeInt32BE(8, 0);
  ssl.writeInt32BE(80877103, 4);
  const r = new MessageReader();
  assert.deepEqual(
    r.push(Buffer.concat([ssl, startup()])).map((m) => m.kind),
    ["ssl-request", "startup"],
  );
});

test("Parse, Bind, Describe, Close and Execute get the connection's names; unnamed stays unnamed", () => {
  const parse = rewriteNames(typed("P", "login", "SELECT 1", Buffer.from([0, 0])), "c7_");
  assert.equal(parse.parsed, "c7_login");
  assert.equal(parse.sql, "SELECT 1");
  assert.deepEqual(parse.bytes, typed("P", "c7_login", "SELECT 1", Buffer.from([0, 0])));
  const bind = rewriteNames(typed("B", "", "login", Buffer.from([0, 0, 0, 0, 0, 0])), "c7_");
  assert.deepEqual(bind.bytes, typed("B", "", "c7_login", Buffer.from([0, 0, 0, 0, 0, 0])));
  const describe = rewriteNames(typed("D", Buffer.from("S"), "login"), "c7_");
  assert.deepEqual(describe.bytes, typed("D", Buffer.from("S"), "c7_login"));
  const close = rewriteNames(typed("C", Buffer.from("S"), "login"), "c7_");
  assert.equal(close.closedStatement, "c7_login");
  const execute = rewriteNames(typed("E", "portal", Buffer.from([0, 0, 0, 0])), "c7_");
  assert.deepEqual(execute.bytes, typed("E", "c7_portal", Buffer.from([0, 0, 0, 0])));
  const unnamed = typed("P", "", "SELECT 2", Buffer.from([0, 0]));
  assert.equal(rewriteNames(unnamed, "c7_").bytes, unnamed);
});

test("names past Postgres' 63 bytes become distinct digests", () => {
  const a = backendName("c1_", `${"x".repeat(70)}a`);
  const b = backendName("c1_", `${"x".repeat(70)}b`);
  assert.ok(Buffer.byteLength(a) <= 63 && Buffer.byteLength(b) <= 63);
  assert.notEqual(a, b);
  assert.notEqual(backendName("c1_", "q"), backendName("c2_", "q"));
});

test("ReadyForQuery at the end of a reply gives the transaction status", () => {
  assert.equal(readyStatus(Buffer.concat([Buffer.from("xyz"), readyForQuery("T")]).subarray(-6)), "T");
  assert.equal(readyStatus(readyForQuery("I")), "I");
  assert.equal(readyStatus(Buffer.from("Gabcde")), undefined);
});
