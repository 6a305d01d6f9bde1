/**
 * Submission over real sockets (swaks and a raw client) against a real
 * Postgres, s3rver and Redis: AUTH on the STARTTLS and implicit-TLS ports,
 * local delivery, remote delivery through the queue to a routed local SMTP
 * server with a DKIM signature that verifies against the published key, the
 * sender policy, send limits, oversize, and the DSN for a refused recipient.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { addDkimKey } from "@aerogram/dkim";
import { parseRoutes } from "@aerogram/outbound";
import { requireServer, type SmtpSink, startSmtpSink } from "@aerogram/testkit";
import { dkimVerify } from "mailauth";
import { SmtpTalk } from "../../smtp-in/test/support.ts";
import { DKIM_SECRET, type Harness, inbox, startHarness, swaks } from "./support.ts";

const PASSWORD = "correct horse battery";

describe("submission", () => {
  let h: Harness;
  let sink: SmtpSink;
  const published = new Map<string, string>();
  /** The stub resolver the verifier uses: serves the TXT records mailctl printed. */
  const resolver = async (name: string, rrtype: string) => {
    const value = published.get(name);
    if (rrtype !== "TXT" || !value) {
      throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    }
    return [[value]];
  };

  before(async (t) => {
    if (!(await requireServer(t as never, "postgres")) || !(await requireServer(t as never, "redis"))) return;
    h = await startHarness();
    sink = await startSmtpSink({ reject: ["nobody@remote.test"] });
    await h.runtime.store.accounts.create({ address: "alice@local.test", password: PASSWORD });
    await h.runtime.store.accounts.create({ address: "bob@local.test", password: PASSWORD });
    await h.runtime.store.accounts.create({ address: "carol@rsa.test", password: PASSWORD });
    await h.runtime.store.accounts.addAlias(
      (await h.runtime.store.accounts.byAddress("alice@local.test"))!.id,
      "sales@local.test",
    );
    for (const [domain, algorithm] of [
      ["local.test", "ed25519"],
      ["rsa.test", "rsa"],
    ] as const) {
      const key = await addDkimKey(h.runtime.store, DKIM_SECRET, {
        domain,
        algorithm,
        selector: `s${algorithm}`,
      });
      published.set(key.dns.name, key.dns.value);
    }
  });
  after(async () => {
    await sink?.close();
    await h?.close();
  });

  const worker = () => h.worker({ routes: parseRoutes(`remote.test=127.0.0.1:${sink.port}`) });

  test("EHLO on the submission port offers AUTH, STARTTLS and the extensions; MAIL before AUTH is 530", async () => {
    const talk = await SmtpTalk.open(h.port);
    assert.match(await talk.reply(), /^220 /);
    const ehlo = await talk.cmd("EHLO client.test");
    for (const ext of [
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
      "ENHANCEDSTATUSCODES",
      "DSN",
      "STARTTLS",
      "SIZE 52428800",
    ]) {
      assert.ok(ehlo.includes(`250-${ext}`) || ehlo.includes(`250 ${ext}`), `${ext} in ${ehlo}`);
    }
    // Loopback: AUTH is offered before TLS (as Dovecot treats localhost).
    assert.match(ehlo, /AUTH PLAIN LOGIN/);
    assert.match(await talk.cmd("MAIL FROM:<alice@local.test>"), /^530 5\.7\.0/);
    assert.match(
      await talk.cmd(`AUTH PLAIN ${Buffer.from("\0alice@local.test\0wrong").toString("base64")}`),
      /^535 5\.7\.8/,
    );
    talk.socket.destroy();
  });

  test("a non-loopback client (PROXY header) gets no AUTH before STARTTLS, and AUTH after it", async () => {
    const proxied = await h.start({ proxyProtocol: {} });
    const socket = connect({ host: "127.0.0.1", port: proxied.port });
    await new Promise((r) => socket.once("connect", r));
    socket.write("PROXY TCP4 203.0.113.9 127.0.0.1 40000 587\r\n");
    let buffer = "";
    const onData = (d: Buffer) => {
      buffer += d.toString();
    };
    socket.on("data", onData);
    const reply = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(buffer); i++) await new Promise((r) => setTimeout(r, 25));
      const got = buffer;
      buffer = "";
      return got;
    };
    assert.match(await reply(/^220 /m), /^220 /);
    socket.write("EHLO far.client.test\r\n");
    const before = await reply(/^250 /m);
    assert.match(before, /STARTTLS/);
    assert.doesNotMatch(before, /AUTH/, "no AUTH offered in the clear");
    socket.write(`AUTH PLAIN ${Buffer.from(`\0alice@local.test\0${PASSWORD}`).toString("base64")}\r\n`);
    assert.match(await reply(/^5\d\d /m), /^5\d\d /, "and none accepted");
    socket.write("MAIL FROM:<alice@local.test>\r\n");
    assert.match(await reply(/^5\d\d /m), /^530 5\.7\.0/);
    socket.write("STARTTLS\r\n");
    assert.match(await reply(/^220 /m), /^220 /);
    socket.off("data", onData);
    const secure = tlsConnect({ socket, rejectUnauthorized: false });
    secure.on("data", onData);
    await new Promise((r) => secure.once("secureConnect", r));
    secure.write("EHLO far.client.test\r\n");
    assert.match(await reply(/^250 /m), /AUTH PLAIN LOGIN/);
    secure.write(`AUTH PLAIN ${Buffer.from(`\0alice@local.test\0${PASSWORD}`).toString("base64")}\r\n`);
    assert.match(await reply(/^235 /m), /^235 /);
    secure.destroy();
    await proxied.stop();
  });

  test("swaks with AUTH over STARTTLS delivers to a local INBOX with Message-ID and Date added and Bcc removed", async () => {
    const r = await swaks([
      "--server",
      `127.0.0.1:${h.port}`,
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-user",
      "alice@local.test",
      "--auth-password",
      PASSWORD,
      "--from",
      "alice@local.test",
      "--to",
      "bob@local.test",
      "--add-header",
      "Bcc: hidden@local.test",
      "--header",
      "Subject: local hello",
      "--suppress-data",
      "--data",
      "From: Alice <alice@local.test>\r\nTo: bob@local.test\r\nSubject: local hello\r\nBcc: hidden@local.test\r\n\r\nbody text\r\n",
    ]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /250 2\.0\.0 OK/);
    const [message] = await inbox(h.runtime, "bob@local.test");
    assert.ok(message, "delivered");
    assert.match(message, /^Received: from [^\r\n]+\r\n\tby submit\.test\.example \(Aerogram\) with ESMTPSA/);
    assert.match(message, /\r\nMessage-ID: <[^>]+@submit\.test\.example>\r\n/);
    assert.match(message, /\r\nDate: [A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} /);
    assert.doesNotMatch(message, /^Bcc:/im);
    assert.match(message, /body text/);
  });

  test("swaks over implicit TLS (465) to a remote domain: the routed server gets it DKIM-signed (ed25519), verifiable", async () => {
    const before = sink.messages.length;
    const r = await swaks([
      "--server",
      `127.0.0.1:${h.securePort}`,
      "--tlsc",
      "--auth",
      "LOGIN",
      "--auth-user",
      "alice@local.test",
      "--auth-password",
      PASSWORD,
      "--from",
      "sales@local.test",
      "--to",
      "friend@remote.test",
      "--header",
      "From: Sales <sales@local.test>",
      "--header",
      "Subject: remote hello",
    ]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /250 2\.0\.0 OK [^\r\n]* queued/);
    assert.equal(await worker().drainDue(), 1);
    assert.equal(sink.messages.length, before + 1);
    const got = sink.messages.at(-1)!;
    assert.equal(got.from, "sales@local.test");
    assert.deepEqual(got.to, ["friend@remote.test"]);
    assert.match(got.data.toString(), /^DKIM-Signature: v=1; a=ed25519-sha256;/);
    const verdict = await dkimVerify(got.data, { resolver: resolver as never });
    assert.equal(verdict.results[0]?.status.result, "pass", JSON.stringify(verdict.results[0]?.status));
    assert.equal(verdict.results[0]?.signingDomain, "local.test");
    assert.equal((await h.runtime.store.outbound.list()).length, 0, "the queue is empty again");
  });

  test("an RSA-2048 key signs its domain's mail, verifiable against the published key", async () => {
    const r = await swaks([
      "--server",
      `127.0.0.1:${h.port}`,
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-user",
      "carol@rsa.test",
      "--auth-password",
      PASSWORD,
      "--from",
      "carol@rsa.test",
      "--to",
      "friend@remote.test",
      "--header",
      "From: carol@rsa.test",
    ]);
    assert.equal(r.code, 0, r.output);
    await worker().drainDue();
    const got = sink.messages.at(-1)!;
    assert.match(got.data.toString(), /^DKIM-Signature: v=1; a=rsa-sha256;/);
    const verdict = await dkimVerify(got.data, { resolver: resolver as never });
    assert.equal(verdict.results[0]?.status.result, "pass");
    assert.equal(verdict.results[0]?.signingDomain, "rsa.test");
  });

  test("8-bit content is noticed at submission and relayed with BODY=8BITMIME", async () => {
    const r = await swaks([
      "--server",
      `127.0.0.1:${h.port}`,
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-user",
      "alice@local.test",
      "--auth-password",
      PASSWORD,
      "--from",
      "alice@local.test",
      "--to",
      "friend@remote.test",
      "--header",
      "Content-Type: text/plain; charset=utf-8",
      "--body",
      "caf\u00e9 cr\u00e8me",
    ]);
    assert.equal(r.code, 0, r.output);
    await worker().drainDue();
    const got = sink.messages.at(-1)!;
    assert.match(got.data.toString("utf8"), /café crème/);
    assert.equal(got.eightBitMime, true);
    assert.equal(sink.messages.at(-2)!.eightBitMime, false, "7-bit mail goes without BODY=8BITMIME");
  });

  test("a message altered after signing fails verification (the check can fail)", async () => {
    const got = sink.messages.at(-1)!;
    const intact = await dkimVerify(got.data, { resolver: resolver as never });
    assert.equal(intact.results[0]?.status.result, "pass", "the original verifies");
    const tampered = Buffer.from(got.data.toString("utf8").replace("\r\n\r\n", "\r\n\r\nForged line.\r\n"));
    const verdict = await dkimVerify(tampered, { resolver: resolver as never });
    assert.notEqual(verdict.results[0]?.status.result, "pass");
  });

  test("sender policy: a foreign MAIL FROM or From: is refused with 550 5.7.1; an alias is allowed", async () => {
    const base = [
      "--server",
      `127.0.0.1:${h.port}`,
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-user",
      "alice@local.test",
      "--auth-password",
      PASSWORD,
      "--to",
      "bob@local.test",
    ];
    const envelope = await swaks([...base, "--from", "ceo@local.test"]);
    assert.notEqual(envelope.code, 0);
    assert.match(envelope.output, /550 5\.7\.1 Not authorised to send as <ceo@local\.test>/);
    const header = await swaks([
      ...base,
      "--from",
      "alice@local.test",
      "--header",
      "From: CEO <ceo@local.test>",
    ]);
    assert.notEqual(header.code, 0);
    assert.match(header.output, /550 5\.7\.1 Not authorised to send as <ceo@local\.test>/);
    const alias = await swaks([...base, "--from", "sales@local.test", "--header", "From: sales@local.test"]);
    assert.equal(alias.code, 0, alias.output);
  });

  test("a refused remote recipient produces a DSN (multipart/report) in the sender's INBOX; the others are delivered", async () => {
    const before = (await inbox(h.runtime, "alice@local.test")).length;
    const r = await swaks([
      "--server",
      `127.0.0.1:${h.port}`,
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-user",
      "alice@local.test",
      "--auth-password",
      PASSWORD,
      "--from",
      "alice@local.test",
      "--to",
      "nobody@remote.test,someone@remote.test",
      "--header",
      "Subject: partly undeliverable",
    ]);
    assert.equal(r.code, 0, r.output);
    await worker().drainDue();
    assert.deepEqual(sink.messages.at(-1)!.to, ["someone@remote.test"]);
    const box = await inbox(h.runtime, "alice@local.test");
    assert.equal(box.length, before + 1);
    const dsn = box.at(-1)!;
    assert.match(dsn, /Content-Type: multipart\/report; report-type=delivery-status;/);
    assert.match(dsn, /Final-Recipient: rfc822; nobody@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1/);
    assert.match(dsn, /Diagnostic-Code: smtp; 550 5\.1\.1 no such user/);
    assert.match(dsn, /Content-Type: text\/rfc822-headers[\s\S]*Subject: partly undeliverable/);
    assert.doesNotMatch(dsn, /someone@remote\.test\r\nAction/);
  });

  test("unknown local recipient is refused at RCPT (550 5.1.1); oversize at DATA (552 5.3.4)", async () => {
    const small = await h.start({ maxMessageBytes: 2000 });
    const talk = await SmtpTalk.open(small.port);
    await talk.reply();
    await talk.cmd("EHLO client.test");
    assert.match(
      await talk.cmd(`AUTH PLAIN ${Buffer.from("\0alice@local.test\0" + PASSWORD).toString("base64")}`),
      /^235/,
    );
    assert.match(await talk.cmd("MAIL FROM:<alice@local.test>"), /^250/);
    assert.match(await talk.cmd("RCPT TO:<ghost@local.test>"), /^550 5\.1\.1/);
    assert.match(await talk.cmd("RCPT TO:<bob@local.test>"), /^250/);
    assert.match(await talk.cmd("DATA"), /^354/);
    talk.write(`From: alice@local.test\r\n\r\n${"x".repeat(70)}\r\n`.repeat(60));
    assert.match(await talk.cmd("."), /^552 5\.3\.4/);
    talk.socket.destroy();
    await small.stop();
  });

  test("per-account send limit: past messages/hour the next message gets 451 4.7.1", async () => {
    const limited = await h.start({
      limits: { messagesPerHour: 2, recipientsPerMessage: 100, recipientsPerDay: 1000 },
    });
    const send = () =>
      swaks([
        "--server",
        `127.0.0.1:${limited.port}`,
        "--auth",
        "PLAIN",
        "--auth-user",
        "bob@local.test",
        "--auth-password",
        PASSWORD,
        "--from",
        "bob@local.test",
        "--to",
        "alice@local.test",
      ]);
    assert.equal((await send()).code, 0);
    assert.equal((await send()).code, 0);
    const third = await send();
    assert.notEqual(third.code, 0);
    assert.match(third.output, /451 4\.7\.1 Sending limit reached \(messages per hour\)/);
    await limited.stop();
  });
});
