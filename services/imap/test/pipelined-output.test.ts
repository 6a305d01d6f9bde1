/**
 * Pipelined commands share socket writes (output.ts, issue 17): the answers of
 * commands that arrive in one chunk are written together, in order, complete,
 * and what must be on the wire before something else happens (LOGOUT's close,
 * IDLE's continuation) still is.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import type { Session } from "../src/session.ts";
import { createAccount, gatewayPerFile, message, RawClient } from "./helpers.ts";

const fixture = gatewayPerFile();

function sessionOf(user: string): Session {
  const found = [...fixture.gateway.server.sessions].filter((s) => s.account?.address === user);
  assert.equal(found.length, 1);
  return found[0]!;
}

const taggedOrder = (text: string) =>
  text
    .split("\r\n")
    .filter((l) => /^p\d /.test(l))
    .map((l) => l.split(" ").slice(0, 2).join(" "));

test("commands pipelined in one chunk are answered in order with one socket write", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const account = await createAccount(fixture.gateway.runtime);
  const client = await RawClient.connect(fixture.gateway.port);
  try {
    assert.match(await client.login(account.user, account.pass), /OK/);
    const session = sessionOf(account.user);
    const before = session.out.writes;
    // Authenticated state, nothing selected: none of these waits on I/O.
    client.write("p1 CAPABILITY\r\np2 NOOP\r\np3 NAMESPACE\r\np4 NOOP\r\np5 ID NIL\r\n");
    const text = await client.response("p5");
    assert.deepEqual(taggedOrder(text), ["p1 OK", "p2 OK", "p3 OK", "p4 OK", "p5 OK"]);
    // Each untagged answer precedes its own command's tagged line.
    assert.ok(text.indexOf("* CAPABILITY") < text.indexOf("p1 OK"));
    assert.ok(text.indexOf("p2 OK") < text.indexOf("* NAMESPACE"));
    assert.ok(text.indexOf("* NAMESPACE") < text.indexOf("p3 OK"));
    assert.ok(text.indexOf("p4 OK") < text.indexOf("* ID"));
    assert.equal(session.out.writes - before, 1, "five answers, one write");
    // A command alone is still answered at once (no batch to wait for).
    assert.match(await client.command("NOOP"), /OK/);
    assert.equal(session.out.writes - before, 2);
  } finally {
    client.close();
  }
});

test("a pipelined batch with literals, I/O and LOGOUT arrives whole before the close", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const account = await createAccount(fixture.gateway.runtime);
  const client = await RawClient.connect(fixture.gateway.port);
  try {
    assert.match(await client.login(account.user, account.pass), /OK/);
    const bodies = [message("batch one", "First body\r\n"), message("batch two", "Second body\r\n")];
    // Two APPENDs with non-synchronizing literals and a SELECT in one chunk.
    client.write(
      `p1 APPEND INBOX {${bodies[0]!.length}+}\r\n${bodies[0]}\r\n` +
        `p2 APPEND INBOX {${bodies[1]!.length}+}\r\n${bodies[1]}\r\n` +
        "p3 SELECT INBOX\r\n",
    );
    const appended = await client.response("p3");
    assert.deepEqual(taggedOrder(appended), ["p1 OK", "p2 OK", "p3 OK"]);
    assert.match(appended, /\* 2 EXISTS\r\n/);
    client.write(
      "p1 FETCH 1:2 (UID FLAGS)\r\np2 FETCH 2 (BODY.PEEK[])\r\np3 STATUS INBOX (MESSAGES)\r\n" +
        "p4 FETCH 1 (BODY.PEEK[TEXT])\r\np5 LOGOUT\r\n",
    );
    const text = await client.readUntil((t) => /p5 OK[^\r]*\r\n/.test(t) || false);
    assert.deepEqual(taggedOrder(text), ["p1 OK", "p2 OK", "p3 OK", "p4 OK", "p5 OK"]);
    assert.match(
      text,
      /\* 1 FETCH \(UID \d+ FLAGS \(\\Recent\)\)\r\n\* 2 FETCH \(UID \d+ FLAGS \(\\Recent\)\)\r\np1 OK/,
    );
    const literal = `* 2 FETCH (BODY[] {${bodies[1]!.length}}\r\n${bodies[1]})\r\np2 OK`;
    assert.ok(text.includes(literal), "the whole literal, then its tagged line");
    assert.match(text, /\* STATUS "INBOX" \(MESSAGES 2\)\r\np3 OK/);
    assert.ok(text.includes("* 1 FETCH (BODY[TEXT] {12}\r\nFirst body\r\n)\r\np4 OK"));
    assert.match(text, /\* BYE[^\r]*\r\np5 OK[^\r]*\r\n$/);
    await client.readUntil(() => client.closed);
    assert.ok(client.closed, "LOGOUT closes after its answers were written");
  } finally {
    client.close();
  }
});

test("IDLE pipelined behind another command gets its continuation at once", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const account = await createAccount(fixture.gateway.runtime);
  const client = await RawClient.connect(fixture.gateway.port);
  try {
    assert.match(await client.login(account.user, account.pass), /OK/);
    assert.match(await client.command("SELECT INBOX"), /OK/);
    client.write("p1 NOOP\r\np2 IDLE\r\n");
    const text = await client.readUntil((t) => t.includes("+ "));
    assert.match(text, /p1 OK[^\r]*\r\n\+ [^\r]*\r\n$/);
    client.take();
    client.write("DONE\r\n");
    assert.match(await client.response("p2"), /p2 OK/);
  } finally {
    client.close();
  }
});
