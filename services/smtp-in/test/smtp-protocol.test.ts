/**
 * SMTP-in over real sockets against real Postgres, s3rver, NATS and Redis:
 * the RFC 5321 conversation, per-recipient answers, relay refusal, bad input,
 * and the delivered message read back from the blob store.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import nodemailer from "nodemailer";
import {
  type Harness,
  messageCount,
  openSession,
  readLatest,
  SmtpTalk,
  splitPrepended,
  startHarness,
} from "./support.ts";

test("smtp-in protocol", async (t) => {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t, s))) return;
  const h: Harness = await startHarness({ maxMessageBytes: 200_000 });
  t.after(() => h.close());
  const store = h.runtime.store;
  const alice = await store.accounts.create({ address: "alice@example.com", password: "pw" });
  await store.accounts.addAlias(alice.id, "postmaster@example.com");
  const aliceInbox = (await store.mailboxes.byName(alice.id, "INBOX"))!.id;
  const bob = await store.accounts.create({ address: "bob@example.org", password: "pw" });
  const bobInbox = (await store.mailboxes.byName(bob.id, "INBOX"))!.id;

  await t.test(
    "greeting and EHLO advertise the extensions, no AUTH, no STARTTLS without a certificate",
    async () => {
      const s = await SmtpTalk.open(h.port);
      assert.match(await s.reply(), /^220 mx\.test\.example ESMTP/);
      const ehlo = await s.cmd("EHLO client.test.example");
      const lines = ehlo.split(/\r?\n/).map((l) => l.slice(4));
      for (const ext of ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 200000"]) {
        assert.ok(lines.includes(ext), `EHLO lists ${ext}: ${ehlo}`);
      }
      assert.ok(!lines.some((l) => /^(AUTH|STARTTLS|CHUNKING)/.test(l)), ehlo);
      assert.match(await s.cmd("HELO client.test.example"), /^250 /);
      assert.match(await s.cmd("HELP"), /^214 /);
      assert.match(await s.cmd("NOOP"), /^250 /);
      assert.match(await s.cmd("QUIT"), /^221 /);
      assert.ok(await s.waitClosed());
    },
  );

  await t.test(
    "nodemailer delivers; the blob is the message byte for byte behind our trace headers",
    async () => {
      const transport = nodemailer.createTransport({
        host: "127.0.0.1",
        port: h.port,
        secure: false,
        ignoreTLS: true,
      });
      const raw = Buffer.from(
        [
          "From: Sender <sender@remote.test>",
          "To: alice@example.com",
          "Subject: hello é",
          "Message-ID: <first@remote.test>",
          "MIME-Version: 1.0",
          "Content-Type: text/plain; charset=utf-8",
          "Content-Transfer-Encoding: 8bit",
          "",
          "Hello Alice,",
          ".a line starting with a dot (dot-stuffed on the wire)",
          "..two dots",
          "ünïcödé body",
          "",
        ].join("\r\n"),
      );
      const info = await transport.sendMail({
        envelope: { from: "sender@remote.test", to: ["alice@example.com"] },
        raw,
      });
      transport.close();
      assert.match(info.response, /^250 2\.0\.0 OK/);
      const { uid, raw: stored } = await readLatest(h.runtime, aliceInbox);
      assert.equal(uid, 1);
      const { prepended, rest } = splitPrepended(stored, raw);
      assert.ok(rest.equals(raw), "the message as sent follows our headers unchanged");
      assert.match(prepended, /^Received: from client|^Received: from \S+ \(\[127\.0\.0\.1\]\)/);
      assert.match(
        prepended,
        /by mx\.test\.example \(Aerogram\) with ESMTP id \S+\r\n\tfor <alice@example\.com>;/,
      );
      assert.match(prepended, /\r\nAuthentication-Results: mx\.test\.example;/);
      assert.match(prepended, /spf=\w+/);
      assert.match(prepended, /dkim=\w+/);
      assert.ok(prepended.endsWith("\r\n"));
      const { rows } = await store.pool.query(
        "SELECT subject, message_id, size, envelope IS NOT NULL AS has_envelope FROM messages WHERE mailbox_id = $1",
        [aliceInbox],
      );
      assert.equal(rows[0].subject, "hello é");
      assert.equal(rows[0].message_id, "<first@remote.test>");
      assert.equal(rows[0].size, stored.length);
      assert.equal(rows[0].has_envelope, true);
    },
  );

  await t.test("pipelined commands get their replies in order", async () => {
    const s = await openSession(h.port);
    s.write(
      "MAIL FROM:<p@remote.test>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n",
    );
    assert.match(await s.reply(), /^250 2\.1\.0/);
    assert.match(await s.reply(), /^250 2\.1\.5/);
    assert.match(await s.reply(), /^550 5\.1\.1/);
    assert.match(await s.reply(), /^250 2\.1\.5/);
    assert.match(await s.reply(), /^354 /);
    const before = await messageCount(h.runtime, bobInbox);
    s.write("Subject: pipelined\r\nMessage-ID: <pipe@remote.test>\r\n\r\nbody\r\n.\r\nNOOP\r\n");
    assert.match(await s.reply(), /^250 2\.0\.0 OK/);
    assert.match(await s.reply(), /^250 /);
    assert.equal(await messageCount(h.runtime, bobInbox), before + 1);
    s.close();
  });

  await t.test(
    "101 recipients: each answered on its own, accepted ones all delivered in one go",
    async () => {
      const accounts: number[] = [];
      const addresses: string[] = [];
      for (let a = 0; a < 10; a++) {
        const acct = await store.accounts.create({ address: `many${a}@example.net`, password: "pw" });
        accounts.push(acct.id);
        addresses.push(acct.address);
        for (let k = 0; k < 9; k++) {
          await store.accounts.addAlias(acct.id, `many${a}-alias${k}@example.net`);
          addresses.push(`many${a}-alias${k}@example.net`);
        }
      }
      const unknown = ["ghost1@example.net", "ghost2@example.net"];
      const rcpts = [...addresses, ...unknown];
      assert.equal(rcpts.length, 102);
      const s = await openSession(h.port);
      assert.match(await s.cmd("MAIL FROM:<bulk@remote.test>"), /^250/);
      let accepted = 0;
      for (const r of rcpts) {
        const reply = await s.cmd(`RCPT TO:<${r}>`);
        if (unknown.includes(r)) assert.match(reply, /^550 5\.1\.1/);
        else {
          assert.match(reply, /^250 2\.1\.5/, r);
          accepted++;
        }
      }
      assert.equal(accepted, 100);
      assert.match(await s.cmd("DATA"), /^354/);
      assert.match(
        await s.cmd("Subject: bulk\r\nMessage-ID: <bulk@remote.test>\r\n\r\nhi\r\n."),
        /^250 2\.0\.0/,
      );
      s.close();
      for (const id of accounts) {
        const inbox = (await store.mailboxes.byName(id, "INBOX"))!;
        assert.equal(inbox.messageCount, 1, "ten addresses of one account deliver one copy");
      }
    },
  );

  await t.test("the null reverse-path <> is accepted (bounces must arrive)", async () => {
    const s = await openSession(h.port);
    assert.match(await s.cmd("MAIL FROM:<>"), /^250/);
    assert.match(await s.cmd("RCPT TO:<postmaster@example.com>"), /^250/);
    assert.match(await s.cmd("DATA"), /^354/);
    assert.match(
      await s.cmd("Subject: bounce\r\nMessage-ID: <bounce@remote.test>\r\n\r\nfailed\r\n."),
      /^250/,
    );
    const { raw } = await readLatest(h.runtime, aliceInbox);
    assert.match(raw.toString(), /Subject: bounce/);
    s.close();
  });

  await t.test("no open relay: foreign domains, address literals, source routes, % hacks", async () => {
    const s = await openSession(h.port);
    assert.match(await s.cmd("MAIL FROM:<spammer@remote.test>"), /^250/);
    assert.match(await s.cmd("RCPT TO:<victim@gmail.com>"), /^550 5\.7\.1/);
    assert.match(await s.cmd("RCPT TO:<victim@[192.0.2.1]>"), /^5\d\d /);
    assert.match(await s.cmd("RCPT TO:<victim%gmail.com@example.com>"), /^550 5\.1\.1/);
    assert.match(await s.cmd("RCPT TO:<@example.com:victim@gmail.com>"), /^5\d\d /);
    assert.match(await s.cmd("RCPT TO:<victim@example.com.evil.test>"), /^550 5\.7\.1/);
    assert.match(await s.cmd("RCPT TO:<victim@gmail.com> NOTIFY=NEVER"), /^5\d\d /);
    assert.match(await s.cmd("DATA"), /^503 /, "no accepted recipient, no DATA");
    s.close();
  });

  await t.test("VRFY, EXPN, TURN and unknown commands reveal nothing and keep the session", async () => {
    const s = await openSession(h.port);
    const vrfyKnown = await s.cmd("VRFY alice@example.com");
    const vrfyUnknown = await s.cmd("VRFY nobody@example.com");
    assert.match(vrfyKnown, /^252 /);
    assert.equal(vrfyKnown, vrfyUnknown, "VRFY answers the same whether the account exists or not");
    assert.match(await s.cmd("EXPN staff"), /^502 5\.5\.1/);
    assert.match(await s.cmd("TURN"), /^502 5\.5\.1/);
    assert.match(await s.cmd("BDAT 10 LAST"), /^502 5\.5\.1/);
    assert.match(await s.cmd("XYZZY"), /^500 /);
    assert.match(await s.cmd("NOOP"), /^250 /);
    assert.match(await s.cmd("RSET"), /^250 /);
    assert.match(await s.cmd("QUIT"), /^221 /);
  });

  await t.test(
    "bad input: binary garbage, a 100 KB line, an over-long DATA line; the session survives",
    async () => {
      const s = await openSession(h.port);
      s.write(Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x01, 0x1b, 0x5b, 0x41, 0x0d, 0x0a]));
      assert.match(await s.reply(), /^5\d\d /);
      assert.match(await s.cmd("NOOP"), /^250 /);
      // 100 KB on one line, written in pieces like a slow client would.
      const huge = `MAIL FROM:<${"x".repeat(100 * 1024)}@remote.test>\r\n`;
      for (let i = 0; i < huge.length; i += 7000) s.write(huge.slice(i, i + 7000));
      assert.match(await s.reply(), /^500 5\.5\.2 Line too long/);
      assert.match(await s.cmd("NOOP"), /^250 /, "the session continues after the long line");
      // 513 octets with CRLF: one over the command limit.
      assert.match(await s.cmd(`NOOP ${"y".repeat(506)}`), /^500 5\.5\.2/);
      assert.match(await s.cmd(`NOOP ${"y".repeat(505)}`), /^250 /, "512 octets is fine");
      const before = await messageCount(h.runtime, aliceInbox);
      assert.match(await s.cmd("MAIL FROM:<long@remote.test>"), /^250/);
      assert.match(await s.cmd("RCPT TO:<alice@example.com>"), /^250/);
      assert.match(await s.cmd("DATA"), /^354/);
      assert.match(await s.cmd(`Subject: long\r\n\r\n${"z".repeat(1200)}\r\n.`), /^500 5\.5\.2/);
      assert.equal(await messageCount(h.runtime, aliceInbox), before);
      assert.match(await s.cmd("NOOP"), /^250 /);
      s.close();
    },
  );

  await t.test("SIZE: declared or actual size over the limit gets 552", async () => {
    const s = await openSession(h.port);
    assert.match(await s.cmd("MAIL FROM:<big@remote.test> SIZE=300000"), /^552 /);
    assert.match(await s.cmd("MAIL FROM:<big@remote.test> SIZE=1000"), /^250/);
    assert.match(await s.cmd("RCPT TO:<alice@example.com>"), /^250/);
    assert.match(await s.cmd("DATA"), /^354/);
    const line = `${"b".repeat(76)}\r\n`;
    s.write(`Subject: big\r\n\r\n${line.repeat(Math.ceil(250_000 / line.length))}.\r\n`);
    assert.match(await s.reply(), /^552 /);
    assert.match(await s.cmd("NOOP"), /^250 /);
    s.close();
  });

  await t.test("abrupt disconnect mid-DATA stores nothing", async () => {
    const before = await messageCount(h.runtime, bobInbox);
    const s = await openSession(h.port);
    assert.match(await s.cmd("MAIL FROM:<gone@remote.test>"), /^250/);
    assert.match(await s.cmd("RCPT TO:<bob@example.org>"), /^250/);
    assert.match(await s.cmd("DATA"), /^354/);
    s.write("Subject: cut\r\n\r\nhalf a message");
    await new Promise((r) => setTimeout(r, 100));
    s.close();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await messageCount(h.runtime, bobInbox), before);
  });

  await t.test("disabled accounts and quotas are answered per recipient", async () => {
    const off = await store.accounts.create({ address: "off@example.com", password: "pw" });
    await store.accounts.setDisabled(off.id, true);
    const small = await store.accounts.create({
      address: "small@example.com",
      password: "pw",
      quotaBytes: 5000,
    });
    const full = await store.accounts.create({ address: "full@example.com", password: "pw", quotaBytes: 10 });
    const s = await openSession(h.port);
    assert.match(await s.cmd("MAIL FROM:<q@remote.test> SIZE=4000"), /^250/);
    assert.match(await s.cmd("RCPT TO:<off@example.com>"), /^550 5\.2\.1/);
    assert.match(await s.cmd("RCPT TO:<small@example.com>"), /^250/);
    assert.match(await s.cmd("RCPT TO:<full@example.com>"), /^552 5\.2\.2/);
    assert.match(await s.cmd("DATA"), /^354/);
    assert.match(await s.cmd("Subject: q\r\nMessage-ID: <q1@remote.test>\r\n\r\nfits\r\n."), /^250/);
    // small@ now holds one message (with our headers, well over 100 octets): 4900 more don't fit.
    assert.match(await s.cmd("MAIL FROM:<q@remote.test> SIZE=4900"), /^250/);
    assert.match(await s.cmd("RCPT TO:<small@example.com>"), /^452 4\.2\.2/);
    s.close();
    assert.equal((await store.mailboxes.byName(small.id, "INBOX"))!.messageCount, 1);
    assert.equal((await store.mailboxes.byName(full.id, "INBOX"))!.messageCount, 0);
    assert.equal((await store.mailboxes.byName(off.id, "INBOX"))!.messageCount, 0);
  });

  await t.test("a retried message (same body, envelope, Message-ID) is delivered once", async () => {
    const send = async (messageId: string) => {
      const s = await openSession(h.port);
      assert.match(await s.cmd("MAIL FROM:<retry@remote.test>"), /^250/);
      assert.match(await s.cmd("RCPT TO:<bob@example.org>"), /^250/);
      assert.match(await s.cmd("RCPT TO:<alice@example.com>"), /^250/);
      assert.match(await s.cmd("DATA"), /^354/);
      const reply = await s.cmd(`Subject: retry\r\nMessage-ID: <${messageId}>\r\n\r\nsame body\r\n.`);
      s.close();
      return reply;
    };
    const before = await messageCount(h.runtime, bobInbox);
    assert.match(await send("retry@remote.test"), /^250 2\.0\.0 OK /);
    assert.match(await send("retry@remote.test"), /^250 2\.0\.0 OK already delivered/);
    assert.equal(await messageCount(h.runtime, bobInbox), before + 1);
    assert.match(await send("another@remote.test"), /^250 2\.0\.0 OK /);
    assert.equal(await messageCount(h.runtime, bobInbox), before + 2);
  });

  await t.test("a delivery publishes an exists event on NATS for the recipient's account", async () => {
    const events: { kind: string; uids?: number[] }[] = [];
    const sub = h.runtime.events.subscribe(bob.id, (e) => events.push(e));
    await new Promise((r) => setTimeout(r, 200));
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: h.port,
      secure: false,
      ignoreTLS: true,
    });
    await transport.sendMail({
      from: "n@remote.test",
      to: "bob@example.org",
      subject: "event",
      text: "ping",
    });
    transport.close();
    const deadline = Date.now() + 5000;
    while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    assert.equal(events[0]?.kind, "exists");
    const latest = await readLatest(h.runtime, bobInbox);
    assert.deepEqual(events[0]?.uids, [latest.uid]);
  });

  await t.test(
    "metrics count connections, transactions, recipients by reason, bytes and latency",
    async () => {
      const text = await h.runtime.metrics.metrics();
      assert.match(text, /aerogram_smtp_connections_total\{result="accepted"[^}]*\} \d+/);
      assert.match(text, /aerogram_smtp_transactions_total\{result="delivered"[^}]*\} \d+/);
      assert.match(text, /aerogram_smtp_transactions_total\{result="duplicate"[^}]*\} 1/);
      assert.match(text, /aerogram_smtp_recipients_total\{result="rejected",reason="relay_denied"/);
      assert.match(text, /aerogram_smtp_recipients_total\{result="rejected",reason="unknown_user"/);
      assert.match(text, /aerogram_smtp_received_bytes_total\{[^}]*\} [1-9]/);
      assert.match(text, /aerogram_smtp_delivery_duration_seconds_count\{[^}]*\} [1-9]/);
      assert.match(text, /aerogram_smtp_auth_verdicts_total\{method="spf"/);
      assert.doesNotMatch(text, /alice|bob@/);
    },
  );
});
