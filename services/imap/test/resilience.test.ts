/**
 * Failure behaviour: a dead blob store answers NO [UNAVAILABLE] (the session and
 * process carry on), and a drain ends idle and waiting sessions with
 * `* BYE [UNAVAILABLE]`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { createAccount, message, RawClient, startBackends, startGateway } from "./helpers.ts";

test("S3 down: FETCH BODY[] is NO [UNAVAILABLE], metadata still served, session survives", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const backends = await startBackends();
  const gateway = await startGateway(backends);
  let s3Stopped = false;
  try {
    const account = await createAccount(gateway.runtime);
    const client = await RawClient.connect(gateway.port);
    assert.match(await client.login(account.user, account.pass), /OK/);
    const text = message("stored");
    client.write(`ap APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await client.response("ap"), /OK/);
    assert.match(await client.command("SELECT INBOX"), /OK/);
    await backends.s3.stop();
    s3Stopped = true;
    assert.match(await client.command("FETCH 1 BODY.PEEK[]"), /t\d+ NO \[UNAVAILABLE\]/);
    assert.match(await client.command("FETCH 1 (ENVELOPE FLAGS)"), /"stored"[\s\S]*OK FETCH/);
    client.write(`ap2 APPEND INBOX {${text.length}+}\r\n${text}\r\n`);
    assert.match(await client.response("ap2"), /ap2 NO \[UNAVAILABLE\]/);
    assert.match(await client.command("NOOP"), /OK/);
    client.close();
  } finally {
    await gateway.close();
    if (!s3Stopped) await backends.s3.stop();
    await backends.db.drop();
  }
});

test("drain: BYE [UNAVAILABLE] to idle and waiting sessions, then the listener is closed", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const backends = await startBackends();
  const gateway = await startGateway(backends);
  try {
    const account = await createAccount(gateway.runtime);
    const waiting = await RawClient.connect(gateway.port);
    assert.match(await waiting.login(account.user, account.pass), /OK/);
    const idling = await RawClient.connect(gateway.port);
    assert.match(await idling.login(account.user, account.pass), /OK/);
    assert.match(await idling.command("SELECT INBOX"), /OK/);
    idling.write("i IDLE\r\n");
    await idling.readUntil((s) => s.includes("+ idling"));
    await gateway.server.drain(2000);
    assert.match(
      await waiting.readUntil(() => waiting.closed),
      /\* BYE \[UNAVAILABLE\] Server shutting down/,
    );
    assert.match(await idling.readUntil(() => idling.closed), /\* BYE \[UNAVAILABLE\] Server shutting down/);
    await assert.rejects(RawClient.connect(gateway.port));
  } finally {
    await gateway.close();
    await backends.stop();
  }
});
