/**
 * QUOTA (RFC 9208) over a real socket: the STORAGE resource reports usage
 * against the account's quota, and APPEND or COPY that would exceed it get
 * NO [OVERQUOTA] while leaving the mailbox unchanged.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { createAccount, gatewayPerFile, RawClient } from "./helpers.ts";

const fixture = gatewayPerFile();

const message = (size: number) =>
  `From: a@example.org\r\nTo: b@example.org\r\nSubject: quota\r\n\r\n${"x".repeat(size)}\r\n`;

test("GETQUOTAROOT, and APPEND/COPY over quota get NO [OVERQUOTA]", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const account = await createAccount(fixture.gateway.runtime);
  // 3 KiB: one 2 KB message fits, a second does not.
  await fixture.gateway.runtime.store.accounts.setQuota(account.id, 3 * 1024);
  const client = await RawClient.connect(fixture.gateway.port);
  try {
    await client.login(account.user, account.pass);
    assert.match(await client.command("CAPABILITY"), /\bQUOTA\b/);

    const first = message(2000);
    client.write(`a1 APPEND INBOX {${Buffer.byteLength(first)}+}\r\n${first}\r\n`);
    assert.match(await client.response("a1"), /a1 OK \[APPENDUID \d+ 1\]/);

    const root = await client.command("GETQUOTAROOT INBOX");
    assert.match(root, /\* QUOTAROOT "INBOX" ""/);
    // STORAGE counts units of 1024 octets (RFC 9208 §5.1), usage rounded up.
    const used = Math.ceil(Buffer.byteLength(first) / 1024);
    assert.match(root, new RegExp(`\\* QUOTA "" \\(STORAGE ${used} 3\\)`));

    const second = message(2000);
    client.write(`a2 APPEND INBOX {${Buffer.byteLength(second)}+}\r\n${second}\r\n`);
    assert.match(await client.response("a2"), /a2 NO \[OVERQUOTA\]/);

    assert.match(await client.command("SELECT INBOX"), /\* 1 EXISTS/);
    assert.match(await client.command("COPY 1 Archive"), /NO \[OVERQUOTA\]/);
    const status = await client.command("STATUS Archive (MESSAGES)");
    assert.match(status, /\* STATUS "?Archive"? \(MESSAGES 0\)/);

    // Raising the quota lets the same COPY through.
    await fixture.gateway.runtime.store.accounts.setQuota(account.id, 10 * 1024);
    assert.match(await client.command("COPY 1 Archive"), /OK \[COPYUID \d+ 1 1\]/);
  } finally {
    client.close?.();
  }
});
