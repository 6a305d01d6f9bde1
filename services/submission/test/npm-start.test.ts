/**
 * Issue 19's "done when" on the embedded stack: a mail client configured the
 * way Thunderbird does it (STARTTLS when offered, AUTH PLAIN, the account's
 * address as login) sends through `npm start` with the demo account — to
 * itself (lands in its INBOX) and to a remote domain, which the outbound
 * workers running in the same process deliver to a routed local server.
 * The implicit-TLS port (465-style) works the same.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanEnv, selfSignedCertificate, startSmtpSink, startTsProcess, tempDir } from "@aerogram/testkit";
import nodemailer from "nodemailer";
import pg from "pg";

test("npm start: a Thunderbird-style client sends as the demo account, locally and to a routed remote", {
  timeout: 150_000,
}, async (t) => {
  const dir = await tempDir("aerogram-submission-start-");
  t.after(() => dir.remove());
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const tls = selfSignedCertificate(dir.path, "localhost");
  const env = cleanEnv({
    DATA_DIR: dir.path,
    HTTP_PORT: "0",
    EMBEDDED_PG_PORT: "0",
    SMTP_PORT: "0",
    IMAP_PORT: "0",
    POP3_PORT: "0",
    SUBMISSION_PORT: "0",
    SUBMISSIONS_PORT: "0",
    TLS_CERT_FILE: tls.certFile,
    TLS_KEY_FILE: tls.keyFile,
    OUTBOUND_ROUTES: `remote.test=127.0.0.1:${sink.port}`,
    OUTBOUND_POLL_MS: "100",
  });
  const server = startTsProcess("services/aerogram/src/main.ts", [], env);
  try {
    const [, port] = await server.waitFor(/submission 127\.0\.0\.1:(\d+)/, 120_000);
    const [, securePort] = await server.waitFor(/submissions 127\.0\.0\.1:(\d+)/);
    const [, pgUrl] = await server.waitFor(/Postgres \(embedded PGlite\) (\S+)/);
    const [, password] = await server.waitFor(/Demo account: demo@example\.com {2}password: (\S+)/);
    const auth = { user: "demo@example.com", pass: password! };
    // Thunderbird: port 587, "STARTTLS", "Normal password"; the test certificate is self-signed.
    const starttls = nodemailer.createTransport({
      host: "127.0.0.1",
      port: Number(port),
      requireTLS: true,
      auth,
      tls: { rejectUnauthorized: false },
    });
    const local = await starttls.sendMail({
      from: '"Demo" <demo@example.com>',
      to: "demo@example.com",
      subject: "Note to self",
      text: "sent through submission",
    });
    assert.match(local.response, /^250 2\.0\.0 OK/);
    const remote = await starttls.sendMail({
      from: "demo@example.com",
      to: "friend@remote.test",
      subject: "Hello from Aerogram",
      text: "over the outbound queue",
    });
    assert.match(remote.response, /^250 2\.0\.0 OK .* queued/);
    starttls.close();
    const implicit = nodemailer.createTransport({
      host: "127.0.0.1",
      port: Number(securePort),
      secure: true,
      auth,
      tls: { rejectUnauthorized: false },
    });
    await implicit.sendMail({
      from: "demo@example.com",
      to: "friend@remote.test",
      subject: "over 465",
      text: "x",
    });
    implicit.close();

    for (let i = 0; i < 100 && sink.messages.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(sink.messages.map((m) => /Subject: (.*)\r\n/.exec(m.data.toString())?.[1]).sort(), [
      "Hello from Aerogram",
      "over 465",
    ]);
    assert.ok(sink.messages.every((m) => m.from === "demo@example.com"));

    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT m.subject FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id
          WHERE a.address = 'demo@example.com' AND b.name = 'INBOX'`,
      );
      assert.deepEqual(
        rows.map((r) => r.subject),
        ["Note to self"],
      );
    } finally {
      await client.end();
    }
    // A STARTTLS session's socket keeps libs/net's drain waiting for its grace period
    // (25 s; SMTP-in's STARTTLS port does the same), hence the long stop timeout.
    assert.equal(await server.stop("SIGTERM", 45_000), 0, "drains and exits cleanly");
  } finally {
    await server.stop("SIGKILL");
  }
});
