/**
 * Issue 23's "done when" on `npm start` (the real entry point, embedded
 * stack): Thunderbird's autoconfig URL on the HTTP port returns the servers
 * for the demo account's domain from PUBLIC_* settings, without the admin
 * token; an unknown domain is 404.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanEnv, startTsProcess, tempDir } from "@aerogram/testkit";

test("npm start: Thunderbird autoconfig for the demo domain on the HTTP port", {
  timeout: 150_000,
}, async (t) => {
  const dir = await tempDir("aerogram-autoconfig-start-");
  t.after(() => dir.remove());
  const server = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv({
      DATA_DIR: dir.path,
      HTTP_PORT: "0",
      EMBEDDED_PG_PORT: "0",
      SMTP_PORT: "0",
      IMAP_PORT: "0",
      POP3_PORT: "0",
      SUBMISSION_PORT: "0",
      PUBLIC_MAIL_HOST: "mail.example.com",
      PUBLIC_IMAPS_PORT: "993",
    }),
  );
  try {
    const [, port] = await server.waitFor(/HTTP\s+http:\/\/127\.0\.0\.1:(\d+)/, 120_000);
    await server.waitFor(/Demo account: demo@example\.com/);
    const base = `http://127.0.0.1:${port}`;
    const res = await fetch(
      `${base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=demo%40example.com`,
    );
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.match(
      body,
      /<incomingServer type="imap">\s*<hostname>mail\.example\.com<\/hostname>\s*<port>993<\/port>/,
    );
    assert.match(
      body,
      /<outgoingServer type="smtp">\s*<hostname>mail\.example\.com<\/hostname>\s*<port>465<\/port>/,
    );
    const other = await fetch(
      `${base}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=x%40nowhere.example`,
    );
    assert.equal(other.status, 404);
    await other.text();
    // The admin API still answers behind it (refusing without a token).
    assert.equal((await fetch(`${base}/api/v1/accounts`)).status, 503);
  } finally {
    await server.stop("SIGTERM");
  }
});
