/**
 * The chaos suite's IMAP view client against a scripted server, for the race
 * that made mixed-outages' idle catch-up verdict flip: an EXISTS that arrives
 * with the answer to the client's own learning FETCH (a delivery landed while
 * it ran). IDLE won't repeat it, so the client must FETCH that UID before it
 * idles again, not wait in IDLE for a push that will never come.
 */
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import { ImapViewClient } from "./imap-tracking-client.ts";

/**
 * A server that answers from a script keyed by command (untagged lines, then
 * "OK done", or the tagged text of a last line starting with "="); IDLE
 * answers "+ idling" and then the script's "IDLE" lines. Records the commands.
 */
async function scriptedServer(script: Record<string, string[]>) {
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.write("* OK scripted\r\n");
    let buffer = "";
    let idleTag: string | undefined;
    socket.on("data", (d: Buffer) => {
      buffer += d.toString("latin1");
      for (let eol = buffer.indexOf("\r\n"); eol >= 0; eol = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        if (idleTag && line === "DONE") {
          socket.write(`${idleTag} OK IDLE terminated\r\n`);
          idleTag = undefined;
          continue;
        }
        const [tag, ...rest] = line.split(" ");
        const command = rest.join(" ");
        commands.push(command);
        if (command === "IDLE") {
          idleTag = tag;
          socket.write(`+ idling\r\n${(script.IDLE ?? []).map((u) => `${u}\r\n`).join("")}`);
          continue;
        }
        const lines = script[command];
        if (!lines) {
          socket.write(`${tag} BAD not in the script\r\n`);
          continue;
        }
        const last = lines.at(-1);
        const tagged = last?.startsWith("=") ? last.slice(1) : "OK done";
        const untagged = last?.startsWith("=") ? lines.slice(0, -1) : lines;
        socket.write(`${untagged.map((u) => `${u}\r\n`).join("")}${tag} ${tagged}\r\n`);
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  return {
    port: address.port,
    commands,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test("an EXISTS in the learning FETCH's own answer is learnt before the client idles again", async (t) => {
  const server = await scriptedServer({
    "LOGIN u p": [],
    "SELECT INBOX": ["* 2 EXISTS"],
    // The race: message 3 was delivered while this FETCH ran; the server reports it after the data.
    "FETCH 1:* (UID FLAGS)": ["* 1 FETCH (UID 24 FLAGS ())", "* 2 FETCH (UID 25 FLAGS ())", "* 3 EXISTS"],
    "FETCH 3:* (UID FLAGS)": ["* 3 FETCH (UID 26 FLAGS ())"],
  });
  t.after(() => server.close());
  const c = await ImapViewClient.open(server.port);
  assert.ok(c);
  t.after(() => c.destroy());
  const ok = (_what: string, answer: { status: string }) => answer.status === "OK";
  assert.equal((await c.command("LOGIN u p")).status, "OK");
  c.selected = true;
  assert.equal((await c.command("SELECT INBOX")).status, "OK");
  assert.ok(await c.learn(ok));
  assert.deepEqual(c.uids(), [24, 25, 0], "told that message 3 exists, not its UID");
  assert.equal(c.lastExistsWith, "FETCH 1:* (UID FLAGS)");

  // The round learns UID 26 instead of idling (the scripted server, like IDLE, would push nothing).
  assert.ok(await c.idleRound(60_000, () => false, ok));
  assert.deepEqual(c.uids(), [24, 25, 26]);
  assert.ok(!c.unknownUids());
  assert.ok(!server.commands.includes("IDLE"), "no IDLE while a UID was unknown");

  // With the view fully known, the next round idles (until its short maxMs here).
  assert.ok(await c.idleRound(200, () => false, ok));
  assert.deepEqual(server.commands, [
    "LOGIN u p",
    "SELECT INBOX",
    "FETCH 1:* (UID FLAGS)",
    "FETCH 3:* (UID FLAGS)",
    "IDLE",
  ]);
});

test("a message expunged before its UID was learnt: FETCH has no data for it, IDLE brings its EXPUNGE", async (t) => {
  const server = await scriptedServer({
    "LOGIN u p": [],
    "SELECT INBOX": ["* 3 EXISTS"],
    // Message 2 was expunged by another session: no data, and its EXPUNGE must wait (RFC 9051 §7.5.1).
    "FETCH 1:* (UID FLAGS)": [
      "* 1 FETCH (UID 24 FLAGS ())",
      "* 3 FETCH (UID 26 FLAGS ())",
      "=OK [EXPUNGEISSUED] Some messages were expunged",
    ],
    "FETCH 2:* (UID FLAGS)": [
      "* 3 FETCH (UID 26 FLAGS ())",
      "=OK [EXPUNGEISSUED] Some messages were expunged",
    ],
    // IDLE may send it: the deferred EXPUNGE arrives at once.
    IDLE: ["* 2 EXPUNGE"],
  });
  t.after(() => server.close());
  const c = await ImapViewClient.open(server.port);
  assert.ok(c);
  t.after(() => c.destroy());
  const ok = (_what: string, answer: { status: string }) => answer.status === "OK";
  assert.equal((await c.command("LOGIN u p")).status, "OK");
  c.selected = true;
  assert.equal((await c.command("SELECT INBOX")).status, "OK");
  assert.ok(await c.learn(ok));
  assert.deepEqual(c.uids(), [24, 0, 26]);

  // One round: the FETCH can't help (no data for message 2), so the round goes on into IDLE,
  // which brings the EXPUNGE; no FETCH loop.
  assert.ok(await c.idleRound(5000, () => false, ok));
  assert.deepEqual(c.uids(), [24, 26]);
  assert.deepEqual(server.commands, [
    "LOGIN u p",
    "SELECT INBOX",
    "FETCH 1:* (UID FLAGS)",
    "FETCH 2:* (UID FLAGS)",
    "IDLE",
  ]);
});
