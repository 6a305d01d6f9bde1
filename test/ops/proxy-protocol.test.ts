/**
 * PROXY protocol on every mail listener: SMTP-in, IMAP and POP3 on
 * one runtime with PROXY_PROTOCOL=true, spoken to over real sockets. Each
 * gateway must see the client address the header names (SMTP: the Received
 * header of the stored message; IMAP and POP3: the per-IP auth-failure counter
 * that throttling keys on), and a connection without a header is closed before
 * any greeting.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "@aerogram/config";
import { ImapServer } from "@aerogram/imap";
import { encodeProxyV1, encodeProxyV2 } from "@aerogram/net";
import { createPop3Service } from "@aerogram/pop3";
import { createRuntime } from "@aerogram/runtime";
import { optionsFromRuntime, SmtpInService } from "@aerogram/smtp-in";
import {
  createTestDatabase,
  requireServer,
  TEST_REDIS_URL,
  TextClient,
  tempDir,
  uniqueId,
} from "@aerogram/testkit";

const v2 = (address: string, port: number) =>
  encodeProxyV2({
    command: "proxy",
    family: "tcp4",
    source: { address, port: 40_000 },
    destination: { address: "127.0.0.1", port },
  });

test("PROXY v1/v2 on SMTP, IMAP and POP3: the gateways see the client's address; no header, no session", async (t) => {
  if (!(await requireServer(t, "postgres")) || !(await requireServer(t, "redis"))) return;
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-proxy-");
  const config = loadConfig({
    DATABASE_URL: db.url,
    DATA_DIR: dir.path,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `t${uniqueId()}:`,
    PROXY_PROTOCOL: "true",
    PROXY_TRUSTED_NETWORKS: "127.0.0.0/8,::1/128",
    MAIL_HOSTNAME: "mx.proxy.test",
    SMTP_PORT: "0",
    IMAP_PORT: "0",
    POP3_PORT: "0",
    LOG_LEVEL: "silent",
  });
  const runtime = await createRuntime(config, { service: "proxy-test" });
  const smtp = new SmtpInService(
    runtime,
    optionsFromRuntime(runtime, {
      authTimeBoxMs: 500,
      // No DNS from tests: every lookup fails at once (SPF/DKIM temperror, no PTR).
      resolver: async () => {
        throw Object.assign(new Error("no DNS in tests"), { code: "ENOTFOUND" });
      },
    }),
  );
  const smtpHandle = await smtp.start();
  const imap = new ImapServer(runtime);
  const imapEndpoints = await imap.listen({ port: 0, host: "127.0.0.1" });
  const imapPort = Number(/:(\d+)/.exec(imapEndpoints[0] ?? "")?.[1]);
  const pop3 = await createPop3Service(runtime, { port: 0, host: "127.0.0.1" });
  t.after(async () => {
    await smtpHandle.drain(0);
    await imap.drain(0);
    await pop3.drain(0);
    await runtime.close();
    await db.drop();
    await dir.remove();
  });
  const account = await runtime.store.accounts.create({ address: "proxied@example.org", password: "right" });
  const inbox = await runtime.store.mailboxes.byName(account.id, "INBOX");
  assert.ok(inbox);
  const smtpPort = smtp.ports()[0]!;

  await t.test("SMTP (v2): Received names the client the header gave", async () => {
    const c = await TextClient.open(smtpPort);
    c.write(v2("203.0.113.7", 25));
    await c.expect(/^220 [^\n]*\n/);
    c.write("EHLO client.example.net\r\n");
    await c.expect(/250 [^\n]*\n/);
    c.write("MAIL FROM:<sender@example.net>\r\n");
    await c.expect(/^250 [^\n]*\n/);
    c.write("RCPT TO:<proxied@example.org>\r\n");
    await c.expect(/^250 [^\n]*\n/);
    c.write("DATA\r\n");
    await c.expect(/^354 [^\n]*\n/);
    c.write("From: sender@example.net\r\nSubject: via the balancer\r\n\r\nhello\r\n.\r\n");
    await c.expect(/^250 [^\n]*\n/);
    c.write("QUIT\r\n");
    await c.waitClosed();
    const { rows } = await runtime.store.pool.query<{ blob_key: string }>(
      "SELECT blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid DESC LIMIT 1",
      [inbox.id],
    );
    const raw = (await runtime.blobs.read(rows[0]!.blob_key)).toString("latin1");
    assert.match(raw, /^Received: from client\.example\.net \(\[203\.0\.113\.7\]\)/m);
    assert.doesNotMatch(raw, /127\.0\.0\.1/);
  });

  await t.test("IMAP (v2): a failed LOGIN is counted against the client's address", async () => {
    const c = await TextClient.open(imapPort);
    c.write(v2("198.51.100.9", 143));
    await c.expect(/^\* OK [^\n]*\n/);
    c.write("a LOGIN proxied@example.org wrong\r\n");
    await c.expect(/^a NO [^\n]*\n/m);
    assert.equal(await runtime.limits.get("authfail:ip:198.51.100.9"), 1);
    assert.equal(await runtime.limits.get("authfail:ip:127.0.0.1"), 0);
    c.write("b LOGOUT\r\n");
    await c.waitClosed();
  });

  await t.test("POP3 (v1): a failed PASS is counted against the client's address", async () => {
    const c = await TextClient.open(pop3.port);
    c.write(
      encodeProxyV1({
        family: "tcp4",
        source: { address: "192.0.2.44", port: 40_001 },
        destination: { address: "127.0.0.1", port: 110 },
      }),
    );
    await c.expect(/^\+OK [^\n]*\n/);
    c.write("USER proxied@example.org\r\n");
    await c.expect(/^\+OK[^\n]*\n/);
    c.write("PASS wrong\r\n");
    await c.expect(/^-ERR[^\n]*\n/);
    assert.equal(await runtime.limits.get("authfail:ip:192.0.2.44"), 1);
    c.write("QUIT\r\n");
    await c.waitClosed();
  });

  await t.test("a connection without a PROXY header is closed before any greeting", async () => {
    for (const [port, line] of [
      [smtpPort, "EHLO client.example.net\r\n"],
      [imapPort, "a CAPABILITY\r\n"],
      [pop3.port, "CAPA\r\n"],
    ] as const) {
      const c = await TextClient.open(port);
      c.write(line);
      assert.ok(await c.waitClosed(), `port ${port} closes`);
      assert.equal(c.text, "", `port ${port} says nothing`);
    }
  });
});
