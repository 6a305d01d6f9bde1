/**
 * ManageSieve (RFC 5804) over real sockets: the protocol by hand (greeting,
 * NOOP tags, auth required, AUTHENTICATE with and without an initial
 * response, PUTSCRIPT errors with their line, quotas, SETACTIVE, DELETESCRIPT
 * of the active script, RENAMESCRIPT, an over-long literal), then Debian's
 * sieve-connect over STARTTLS uploading and activating a script, and the
 * whole path: the script files and flags a message delivered over SMTP, read
 * back over IMAP with imapflow.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { startImap } from "@aerogram/imap";
import { loadSecureContext } from "@aerogram/net";
import { startSmtpIn } from "@aerogram/smtp-in";
import {
  requireServers,
  selfSignedCertificate,
  startTestBackend,
  TextClient,
  tempDir,
} from "@aerogram/testkit";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { startManageSieve } from "../src/index.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function sieveConnect(
  port: number,
  password: string,
  args: string[],
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      "sieve-connect",
      [
        "--server",
        "127.0.0.1",
        "--port",
        String(port),
        "--user",
        "alice@example.com",
        "--passwordfd",
        "3",
        "--notlsverify",
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    (child.stdio[3] as NodeJS.WritableStream).end(`${password}\n`);
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test("managesieve", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats", "redis"]))) return;
  const dir = await tempDir("aerogram-managesieve-");
  t.after(() => dir.remove());
  const cert = selfSignedCertificate(dir.path, "sieve.test");
  const backend = await startTestBackend({
    blobs: "fs",
    nats: true,
    redis: true,
    settings: {
      SMTP_PORT: "0",
      IMAP_PORT: "0",
      MANAGESIEVE_PORT: "0",
      MAIL_HOSTNAME: "mx.test.example",
      SIEVE_MAX_SCRIPTS: "3",
      SIEVE_MAX_SCRIPT_BYTES: "2000",
    },
  });
  t.after(() => backend.stop());
  const runtime = await backend.runtime("managesieve-test");
  t.after(() => runtime.close());
  const sieve = await startManageSieve(runtime, { tls: loadSecureContext(cert) });
  t.after(() => sieve.drain(0));
  const alice = await runtime.store.accounts.create({ address: "alice@example.com", password: "secret pw" });

  await t.test("greeting, NOOP tag, commands refused before AUTHENTICATE", async () => {
    const c = await TextClient.open(sieve.port);
    const greeting = await c.expect(/[\s\S]*?OK "[^"]*"\r\n/);
    assert.match(greeting, /"IMPLEMENTATION" "Aerogram"/);
    assert.match(greeting, /"SASL" "PLAIN"/);
    assert.match(
      greeting,
      /"SIEVE" "fileinto reject ereject envelope imap4flags body variables vacation relational subaddress copy mailbox date index comparator-i;ascii-numeric"/,
    );
    assert.match(greeting, /"STARTTLS"/);
    assert.match(greeting, /"VERSION" "1.0"/);
    assert.equal(await c.say('NOOP "abc"', /.*\r\n/), 'OK (TAG "abc") "Done"');
    assert.match(await c.say("LISTSCRIPTS", /.*\r\n/), /^NO /);
    assert.match(
      await c.say('AUTHENTICATE "PLAIN" "' + b64("\0alice@example.com\0wrong") + '"', /.*\r\n/),
      /^NO /,
    );
    assert.equal(await c.say("LOGOUT", /.*\r\n/), 'OK "Bye"');
    assert.ok(await c.waitClosed());
  });

  await t.test("script commands: errors with their line, quotas, active script rules", async () => {
    const c = await TextClient.open(sieve.port);
    await c.expect(/[\s\S]*?OK "[^"]*"\r\n/);
    // No initial response: the server sends an empty challenge, the client answers with a string.
    c.write('AUTHENTICATE "PLAIN"\r\n');
    await c.expect(/""\r\n/);
    assert.equal(await c.say(`"${b64("\0alice@example.com\0secret pw")}"`, /.*\r\n/), 'OK "Logged in"');
    const bad = 'require "fileinto";\r\nif true {\r\n  fileinto :copy "x";\r\n}\r\n';
    const badReply = await c.say(`PUTSCRIPT "bad" {${bad.length}+}\r\n${bad}`, /.*\r\n/);
    assert.match(badReply, /^NO "line 3: :copy needs require \\"copy\\""$/);
    const good = 'require ["fileinto"];\r\nfileinto "A";\r\n';
    assert.equal(await c.say(`CHECKSCRIPT {${good.length}+}\r\n${good}`, /.*\r\n/), "OK");
    assert.equal(await c.say(`PUTSCRIPT "one" {${good.length}+}\r\n${good}`, /.*\r\n/), "OK");
    assert.equal(await c.say(`PUTSCRIPT "two" "keep;"`, /.*\r\n/), "OK");
    assert.equal(await c.say(`PUTSCRIPT "three" "keep;"`, /.*\r\n/), "OK");
    assert.match(await c.say(`PUTSCRIPT "four" "keep;"`, /.*\r\n/), /^NO \(QUOTA\/MAXSCRIPTS\)/);
    assert.match(await c.say(`HAVESPACE "x" 5000`, /.*\r\n/), /^NO \(QUOTA\/MAXSIZE\)/);
    assert.equal(await c.say(`HAVESPACE "one" 100`, /.*\r\n/), "OK");
    // A literal over the limit is refused and skipped; the session goes on.
    const huge = "#".repeat(5000);
    assert.match(await c.say(`PUTSCRIPT "huge" {${huge.length}+}\r\n${huge}`, /.*\r\n/), /^NO /);
    assert.equal(await c.say("NOOP", /.*\r\n/), 'OK "Done"');
    assert.equal(await c.say('SETACTIVE "one"', /.*\r\n/), "OK");
    assert.match(await c.say('SETACTIVE "nope"', /.*\r\n/), /^NO \(NONEXISTENT\)/);
    assert.equal(await c.say("LISTSCRIPTS", /[\s\S]*?OK\r\n/), '"one" ACTIVE\r\n"three"\r\n"two"\r\nOK');
    assert.match(await c.say('DELETESCRIPT "one"', /.*\r\n/), /^NO \(ACTIVE\)/);
    assert.equal(await c.say('DELETESCRIPT "two"', /.*\r\n/), "OK");
    assert.match(await c.say('RENAMESCRIPT "three" "one"', /.*\r\n/), /^NO \(ALREADYEXISTS\)/);
    assert.equal(await c.say('RENAMESCRIPT "one" "main"', /.*\r\n/), "OK");
    assert.equal(await c.say('GETSCRIPT "main"', /[\s\S]*?OK\r\n/), `{${good.length}}\r\n${good}\r\nOK`);
    assert.equal(await c.say('SETACTIVE ""', /.*\r\n/), "OK");
    assert.equal(await runtime.store.sieve.active(alice.id), undefined);
    assert.equal(await c.say('DELETESCRIPT "main"', /.*\r\n/), "OK");
    assert.equal(await c.say('DELETESCRIPT "three"', /.*\r\n/), "OK");
    c.write("LOGOUT\r\n");
    await c.waitClosed();
  });

  await t.test(
    "sieve-connect uploads and activates over STARTTLS; SMTP delivery files and flags; IMAP reads it",
    async (t2) => {
      const script = join(dir.path, "rules.sieve");
      writeFileSync(
        script,
        'require ["fileinto", "imap4flags", "mailbox"];\r\nif header :contains "subject" "invoice" {\r\n  addflag "\\\\Flagged";\r\n  fileinto :create "Bills";\r\n}\r\n',
      );
      const up = await sieveConnect(sieve.port, "secret pw", [
        "--upload",
        "--localsieve",
        script,
        "--remotesieve",
        "rules",
      ]);
      assert.equal(up.code, 0, up.out);
      const act = await sieveConnect(sieve.port, "secret pw", ["--activate", "--remotesieve", "rules"]);
      assert.equal(act.code, 0, act.out);
      const list = await sieveConnect(sieve.port, "secret pw", ["--list"]);
      assert.equal(list.code, 0, list.out);
      assert.match(list.out, /"rules" ACTIVE/);
      const wrong = await sieveConnect(sieve.port, "not it", ["--list"]);
      assert.notEqual(wrong.code, 0);

      const smtp = await startSmtpIn(runtime);
      t2.after(() => smtp.drain(0));
      const imap = await startImap(runtime);
      t2.after(() => imap.drain(0));
      const port = (s: { endpoints: string[] }) => Number(/:(\d+)/.exec(s.endpoints[0]!)![1]);
      const transport = nodemailer.createTransport({
        host: "127.0.0.1",
        port: port(smtp),
        secure: false,
        ignoreTLS: true,
      });
      await transport.sendMail({
        envelope: { from: "billing@shop.test", to: ["alice@example.com"] },
        raw: "From: billing@shop.test\r\nTo: alice@example.com\r\nSubject: Your invoice 42\r\nMessage-ID: <inv42@shop.test>\r\n\r\nPay up.\r\n",
      });
      transport.close();
      const client = new ImapFlow({
        host: "127.0.0.1",
        port: port(imap),
        secure: false,
        auth: { user: "alice@example.com", pass: "secret pw" },
        logger: false,
      });
      await client.connect();
      try {
        const lock = await client.getMailboxLock("Bills");
        try {
          const msgs = [];
          for await (const m of client.fetch("1:*", { envelope: true, flags: true })) msgs.push(m);
          assert.equal(msgs.length, 1);
          assert.equal(msgs[0]!.envelope?.subject, "Your invoice 42");
          assert.ok(msgs[0]!.flags?.has("\\Flagged"), `flags: ${[...(msgs[0]!.flags ?? [])]}`);
        } finally {
          lock.release();
        }
        const inbox = await client.status("INBOX", { messages: true });
        assert.equal(inbox.messages, 0);
      } finally {
        await client.logout();
      }
    },
  );
});
