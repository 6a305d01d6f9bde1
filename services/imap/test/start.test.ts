/**
 * End to end: `npm start` (every service in one process on the embedded
 * defaults) serves IMAP; imapflow logs in as the printed demo account, appends
 * a message and reads it back.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cleanEnv, startTsProcess, tempDir } from "@aerogram/testkit";
import { ImapFlow } from "imapflow";

const MAIN = "services/aerogram/src/main.ts";

let dir: { path: string; remove(): Promise<void> };
before(async () => {
  dir = await tempDir("aerogram-imap-start-");
});
after(() => dir.remove());

test("npm start: imapflow logs in as the demo account, appends and fetches", {
  timeout: 120_000,
}, async () => {
  const env = cleanEnv({
    DATA_DIR: dir.path,
    HTTP_PORT: "0",
    EMBEDDED_PG_PORT: "0",
    IMAP_PORT: "0",
    SMTP_PORT: "0",
    POP3_PORT: "0",
  });
  const server = startTsProcess(MAIN, [], env);
  try {
    const [, httpPort] = await server.waitFor(/HTTP\s+http:\/\/127\.0\.0\.1:(\d+)\//, 60_000);
    const [, port] = await server.waitFor(/IMAP\s+127\.0\.0\.1:(\d+)/, 60_000);
    const [, password] = await server.waitFor(/Demo account: demo@example\.com\s+password: (\S+)/);
    const imap = new ImapFlow({
      host: "127.0.0.1",
      port: Number(port),
      secure: false,
      auth: { user: "demo@example.com", pass: password! },
      logger: false,
    });
    await imap.connect();
    try {
      const text = "From: a@example.org\r\nTo: demo@example.com\r\nSubject: started\r\n\r\nIt works.\r\n";
      const appended = await imap.append("INBOX", text, ["\\Seen"]);
      assert.ok(appended && typeof appended === "object" && appended.uid !== undefined);
      const lock = await imap.getMailboxLock("INBOX");
      try {
        const found = await imap.fetchOne(
          String(appended.uid),
          { envelope: true, source: true },
          { uid: true },
        );
        assert.ok(found);
        assert.equal(found.envelope?.subject, "started");
        assert.equal(found.source?.toString(), text);
        // STORE and EXPUNGE take the mailbox row lock with BEGIN in one simple-protocol
        // message (libs/store withMailboxLock): the embedded database answers it too.
        assert.ok(await imap.messageFlagsAdd(String(appended.uid), ["\\Flagged"], { uid: true }));
        assert.ok(await imap.messageDelete(String(appended.uid), { uid: true }));
        assert.equal((await imap.status("INBOX", { messages: true })).messages, 0);
      } finally {
        lock.release();
      }
    } finally {
      await imap.logout();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.match(metrics, /aerogram_imap_commands_total\{[^}]*command="AUTHENTICATE",result="ok"[^}]*\} 1/);
    assert.match(metrics, /aerogram_imap_command_duration_seconds_count\{[^}]*command="APPEND"[^}]*\} 1/);
    assert.match(metrics, /aerogram_sessions\{[^}]*protocol="imap"[^}]*\} 0/);
    assert.equal(await server.stop("SIGTERM"), 0, "clean exit on SIGTERM");
  } finally {
    await server.stop("SIGKILL").catch(() => {});
  }
});
