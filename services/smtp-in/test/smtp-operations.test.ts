/**
 * Operations: cluster-wide limits on real Redis, graceful drain, DNS that never
 * answers (verdicts become temperror in bounded time, delivery goes on), and
 * STARTTLS / implicit TLS with a configured certificate.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { requireServer, selfSignedCertificate, tempDir } from "@aerogram/testkit";
import nodemailer from "nodemailer";
import { type Harness, openSession, readLatest, SmtpTalk, startHarness, startService } from "./support.ts";

async function harness(t: import("node:test").TestContext, overrides = {}): Promise<Harness | undefined> {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t, s))) return undefined;
  const h = await startHarness(overrides);
  t.after(() => h.close());
  return h;
}

test("limits: connections per IP (421) and messages per minute per IP and per recipient (451 4.7.1)", async (t) => {
  const h = await harness(t, {
    rateLimits: { connectionsPerIp: 2, messagesPerMinutePerIp: 3, messagesPerMinutePerRecipient: 2 },
  });
  if (!h) return;
  await h.runtime.store.accounts.create({ address: "r1@example.com", password: "pw" });
  await h.runtime.store.accounts.create({ address: "r2@example.com", password: "pw" });
  const one = await openSession(h.port);
  const two = await openSession(h.port);
  const three = await SmtpTalk.open(h.port);
  assert.match(await three.reply(), /^421 4\.7\.0/);
  assert.ok(await three.waitClosed());
  two.close();
  await new Promise((r) => setTimeout(r, 300));
  const again = await SmtpTalk.open(h.port);
  assert.match(await again.reply(), /^220 /, "a closed connection frees its slot");
  again.close();

  // Per recipient: the third message within a minute to r1 is deferred, r2 still accepted.
  for (let i = 0; i < 3; i++) {
    assert.match(await one.cmd("MAIL FROM:<s@remote.test>"), /^250/);
    const r1 = await one.cmd("RCPT TO:<r1@example.com>");
    if (i < 2) assert.match(r1, /^250/);
    else assert.match(r1, /^451 4\.7\.1/);
    assert.match(await one.cmd("RSET"), /^250/);
  }
  // Per IP: three MAIL FROMs were allowed, the fourth is deferred.
  assert.match(await one.cmd("MAIL FROM:<s@remote.test>"), /^451 4\.7\.1/);
  one.close();
});

test("drain: idle sessions get 421, a transaction under way completes, new connections are refused", async (t) => {
  const h = await harness(t);
  if (!h) return;
  const acct = await h.runtime.store.accounts.create({ address: "d@example.com", password: "pw" });
  const inbox = (await h.runtime.store.mailboxes.byName(acct.id, "INBOX"))!.id;
  const second = await startService(h.runtime);
  const idle = await openSession(second.port);
  const busy = await openSession(second.port);
  assert.match(await busy.cmd("MAIL FROM:<s@remote.test>"), /^250/);
  assert.match(await busy.cmd("RCPT TO:<d@example.com>"), /^250/);
  assert.match(await busy.cmd("DATA"), /^354/);
  busy.write("Subject: in flight\r\n\r\n");
  const drained = second.service.drain(5000);
  assert.match(await idle.reply(), /^421 4\.3\.2/);
  assert.ok(await idle.waitClosed());
  await assert.rejects(SmtpTalk.open(second.port), "the listener is closed");
  busy.write("the rest\r\n.\r\n");
  assert.match(await busy.reply(), /^250 2\.0\.0 OK/);
  assert.match(await busy.reply(), /^421 4\.3\.2/, "after its transaction the session is told to go");
  await drained;
  assert.match((await readLatest(h.runtime, inbox)).raw.toString(), /the rest/);
});

test("DNS that never answers: verdicts are temperror within the time box and delivery proceeds", async (t) => {
  const h = await harness(t, {
    resolver: () => new Promise(() => {}),
    authTimeBoxMs: 300,
  });
  if (!h) return;
  const acct = await h.runtime.store.accounts.create({ address: "dns@example.com", password: "pw" });
  const inbox = (await h.runtime.store.mailboxes.byName(acct.id, "INBOX"))!.id;
  const s = await openSession(h.port);
  assert.match(await s.cmd("MAIL FROM:<someone@gmail.com>"), /^250/);
  assert.match(await s.cmd("RCPT TO:<dns@example.com>"), /^250/);
  assert.match(await s.cmd("DATA"), /^354/);
  const started = Date.now();
  const reply = await s.cmd(
    "From: someone@gmail.com\r\nSubject: dns\r\nDKIM-Signature: v=1; a=rsa-sha256; d=gmail.com; s=x; h=from; bh=x; b=x\r\n\r\nhi\r\n.",
  );
  const took = Date.now() - started;
  assert.match(reply, /^250 /);
  assert.ok(took < 2000, `took ${took} ms`);
  s.close();
  const { raw } = await readLatest(h.runtime, inbox);
  assert.match(raw.toString(), /Authentication-Results: mx\.test\.example;\r\n spf=temperror/);
  assert.match(raw.toString(), /dmarc=temperror/);
});

test("STARTTLS on the plain port and implicit TLS on the secure port with a configured certificate", async (t) => {
  const dir = await tempDir("aerogram-smtp-tls-");
  t.after(() => dir.remove());
  const { certFile: cert, keyFile: key } = selfSignedCertificate(dir.path, "mx.test.example");
  const h = await harness(t, { tls: { key: readFileSync(key), cert: readFileSync(cert) }, securePort: 0 });
  if (!h) return;
  await h.runtime.store.accounts.create({ address: "tls@example.com", password: "pw" });
  const s = await SmtpTalk.open(h.port);
  await s.reply();
  const ehlo = await s.cmd("EHLO client.test.example");
  assert.match(ehlo, /250[- ]STARTTLS/);
  assert.doesNotMatch(ehlo, /AUTH/);
  s.close();
  const [plain, secure] = h.service.ports();
  for (const [port, implicit] of [
    [plain!, false],
    [secure!, true],
  ] as const) {
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: implicit,
      requireTLS: !implicit,
      tls: { rejectUnauthorized: false },
    });
    const info = await transport.sendMail({
      from: "s@remote.test",
      to: "tls@example.com",
      subject: "tls",
      text: "x",
    });
    transport.close();
    assert.match(info.response, /^250 /);
  }
  const { rows } = await h.runtime.store.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM messages");
  assert.equal(rows[0]!.n, 2);
  const account = (await h.runtime.store.accounts.byAddress("tls@example.com"))!;
  const inbox = (await h.runtime.store.mailboxes.byName(account.id, "INBOX"))!;
  assert.match((await readLatest(h.runtime, inbox.id)).raw.toString(), /with ESMTPS id/);
});
