/**
 * Overall SMTP deadlines (RFC 5321 §4.5.3.2; deadlines.ts) over real sockets,
 * shortened through the service options: bytes trickled slower than the
 * deadline allows cannot keep a command line or a message transfer alive, while
 * a conversation that keeps answering in time, and a large message sent at a
 * decent rate past the DATA floor, are not cut off. The idle timeout stays at
 * its 5 minutes, so every 421 here is the deadline's.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { messageCount, openSession, SmtpTalk, startHarness } from "./support.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TIMEOUT = /^421 4\.4\.2 mx\.test\.example Error: timeout exceeded$/;

test("smtp-in deadlines", async (t) => {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t, s))) return;
  const deadlines = { commandMs: 3000, dataMs: 2000, dataMinBytesPerSecond: 50_000 };
  const h = await startHarness({ deadlines });
  t.after(() => h.close());
  const account = await h.runtime.store.accounts.create({ address: "slow@example.com", password: "pw" });
  const inbox = (await h.runtime.store.mailboxes.byName(account.id, "INBOX"))!.id;

  /** Writes `text` one byte every `everyMs` until done or the server hangs up. */
  const trickle = async (s: SmtpTalk, text: string, everyMs: number) => {
    for (const byte of text) {
      if (s.closed) return;
      s.write(byte);
      await sleep(everyMs);
    }
  };

  await t.test("a command line trickled past the command deadline gets 421 4.4.2 and the close", async () => {
    const s = await SmtpTalk.open(h.port);
    assert.match(await s.reply(), /^220 /);
    const started = Date.now();
    // 25 bytes at one per 300 ms: 7.5 s for the line, each byte well inside the 5-minute idle timeout.
    const writing = trickle(s, "EHLO trickle.example.com\r\n", 300);
    const reply = await s.reply(15_000);
    assert.match(reply, TIMEOUT);
    assert.ok(Date.now() - started >= deadlines.commandMs, "not before the deadline");
    assert.ok(await s.waitClosed(5000), "closed after the 421");
    await writing;
  });

  await t.test("the deadline is per command: a client that answers in time keeps its session", async () => {
    const s = await openSession(h.port);
    // Five NOOPs a second apart: the session outlives one command deadline by far.
    for (let i = 0; i < 5; i++) {
      await sleep(1000);
      assert.match(await s.cmd("NOOP"), /^250 /);
    }
    assert.match(await s.cmd("QUIT"), /^221 /);
  });

  await t.test("a message trickled past the DATA deadline gets 421 4.4.2 and is not delivered", async () => {
    const s = await openSession(h.port);
    assert.match(await s.cmd("MAIL FROM:<a@sender.example>"), /^250 /);
    assert.match(await s.cmd("RCPT TO:<slow@example.com>"), /^250 /);
    assert.match(await s.cmd("DATA"), /^354 /);
    // 10 bytes per 250 ms earn 0.2 ms each: the 2 s floor is all the time there is.
    const writing = (async () => {
      s.write("Subject: slow\r\n\r\n");
      for (let i = 0; i < 60 && !s.closed; i++) {
        s.write("123456789\n");
        await sleep(250);
      }
    })();
    assert.match(await s.reply(15_000), TIMEOUT);
    assert.ok(await s.waitClosed(5000));
    await writing;
    assert.equal(await messageCount(h.runtime, inbox), 0);
  });

  await t.test("a large message at a decent rate gets time in proportion to its size", async () => {
    const s = await openSession(h.port);
    assert.match(await s.cmd("MAIL FROM:<a@sender.example>"), /^250 /);
    assert.match(await s.cmd("RCPT TO:<slow@example.com>"), /^250 /);
    assert.match(await s.cmd("DATA"), /^354 /);
    // 300 KB over about 3 s (100 KB/s): past the 2 s floor, but each 50 KB bought a second more.
    const line = `${"x".repeat(98)}\r\n`;
    s.write("Subject: large\r\n\r\n");
    const started = Date.now();
    for (let i = 0; i < 30; i++) {
      s.write(line.repeat(100));
      await sleep(100);
    }
    s.write(".\r\n");
    assert.match(await s.reply(15_000), /^250 /);
    assert.ok(Date.now() - started > deadlines.dataMs, "the transfer outlasted the floor");
    assert.equal(await messageCount(h.runtime, inbox), 1);
    assert.match(await s.cmd("QUIT"), /^221 /);
  });
});
