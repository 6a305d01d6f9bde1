/**
 * The first-run promise of SMTP-in: a message sent with a standard SMTP client to the
 * running `npm start` stack (embedded PGlite, files under DATA_DIR) appears in
 * the recipient's mailbox store with UID 1, its index and its blob.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createBlobStore } from "@aerogram/blobstore";
import { cleanEnv, startTsProcess, tempDir } from "@aerogram/testkit";
import nodemailer from "nodemailer";
import pg from "pg";
import { collect } from "./support.ts";

test("npm start accepts mail for demo@example.com and stores it as UID 1", {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir("aerogram-smtp-start-");
  t.after(() => dir.remove());
  const env = cleanEnv({
    DATA_DIR: dir.path,
    HTTP_PORT: "0",
    EMBEDDED_PG_PORT: "0",
    SMTP_PORT: "0",
    IMAP_PORT: "0",
    POP3_PORT: "0",
  });
  const server = startTsProcess("services/aerogram/src/main.ts", [], env);
  try {
    const [, smtpPort] = await server.waitFor(/smtp 127\.0\.0\.1:(\d+)/, 60_000);
    const [, pgUrl] = await server.waitFor(/Postgres \(embedded PGlite\) (\S+)/);
    await server.waitFor(/Demo account: demo@example\.com/);
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: Number(smtpPort),
      ignoreTLS: true,
    });
    const info = await transport.sendMail({
      from: "friend@remote.test",
      to: "demo@example.com",
      subject: "Welcome to Aerogram",
      text: "It works.",
      messageId: "<npm-start@remote.test>",
    });
    transport.close();
    assert.match(info.response, /^250 2\.0\.0 OK/);
    assert.deepEqual(info.accepted, ["demo@example.com"]);

    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    let row: { uid: string; blob_key: string; subject: string; size: string; body_structure: string };
    try {
      const { rows } = await client.query(
        `SELECT m.uid, m.blob_key, m.subject, m.size, m.body_structure
           FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id
          WHERE a.address = 'demo@example.com' AND b.name = 'INBOX'`,
      );
      assert.equal(rows.length, 1);
      row = rows[0];
    } finally {
      await client.end();
    }
    assert.equal(Number(row.uid), 1);
    assert.equal(row.subject, "Welcome to Aerogram");
    assert.match(row.body_structure, /"text" "plain"/i);
    const blobs = createBlobStore({ kind: "fs", dir: join(dir.path, "blobs") });
    const raw = await collect(await blobs.get(row.blob_key));
    await blobs.close();
    assert.equal(raw.length, Number(row.size));
    assert.match(raw.toString(), /^Received: from /);
    assert.match(raw.toString(), /\r\nAuthentication-Results: localhost;/);
    assert.match(raw.toString(), /Message-ID: <npm-start@remote\.test>/i);
    assert.match(raw.toString(), /It works\./);
    assert.equal(await server.stop("SIGTERM"), 0, "drains and exits cleanly");
  } finally {
    await server.stop("SIGKILL");
  }
});
