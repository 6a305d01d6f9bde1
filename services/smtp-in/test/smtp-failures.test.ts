/**
 * The durability contract under failure: with the blob store or Postgres gone
 * in the middle of a transaction the sender gets 451 4.3.0 and no recipient
 * sees anything; once the dependency is back, the retry delivers exactly once.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createTestDatabase, requireServer, startS3, TEST_DATABASE_URL } from "@aerogram/testkit";
import pg from "pg";
import { messageCount, openSession, runtimeFor, startService } from "./support.ts";

async function beginTransaction(port: number, rcpts: string[]) {
  const s = await openSession(port);
  assert.match(await s.cmd("MAIL FROM:<sender@remote.test>"), /^250/);
  for (const r of rcpts) assert.match(await s.cmd(`RCPT TO:<${r}>`), /^250/);
  assert.match(await s.cmd("DATA"), /^354/);
  s.write("Subject: under failure\r\nMessage-ID: <failure@remote.test>\r\n\r\nfirst part\r\n");
  return s;
}

test("S3 down mid-transaction: 451 4.3.0 and nothing half-delivered", async (t) => {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t, s))) return;
  const db = await createTestDatabase();
  const s3 = await startS3();
  const runtime = await runtimeFor(db, s3);
  const smtp = await startService(runtime);
  t.after(async () => {
    await smtp.stop();
    await runtime.close();
    await db.drop();
  });
  const a = await runtime.store.accounts.create({ address: "a@example.com", password: "pw" });
  const b = await runtime.store.accounts.create({ address: "b@example.com", password: "pw" });
  const boxes = [a, b].map(async (x) => (await runtime.store.mailboxes.byName(x.id, "INBOX"))!.id);
  const [boxA, boxB] = await Promise.all(boxes);

  const s = await beginTransaction(smtp.port, ["a@example.com", "b@example.com"]);
  await s3.stop();
  s.write("second part\r\n.\r\n");
  assert.match(await s.reply(30_000), /^451 4\.3\.0/);
  assert.match(await s.cmd("NOOP"), /^250/, "the session survives a failed delivery");
  s.close();
  assert.equal(await messageCount(runtime, boxA!), 0);
  assert.equal(await messageCount(runtime, boxB!), 0);
});

test("Postgres down mid-transaction: 451 4.3.0, nothing visible, and the retry delivers once", async (t) => {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t, s))) return;
  const db = await createTestDatabase();
  const s3 = await startS3();
  const runtime = await runtimeFor(db, s3);
  const smtp = await startService(runtime);
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  const hidden = `${db.name}_away`;
  t.after(async () => {
    await admin.query(`ALTER DATABASE ${hidden} RENAME TO ${db.name}`).catch(() => {});
    await admin.end();
    await smtp.stop();
    await runtime.close();
    await s3.stop();
    await db.drop();
  });
  const a = await runtime.store.accounts.create({ address: "a@example.com", password: "pw" });
  const b = await runtime.store.accounts.create({ address: "b@example.com", password: "pw" });
  const boxA = (await runtime.store.mailboxes.byName(a.id, "INBOX"))!.id;
  const boxB = (await runtime.store.mailboxes.byName(b.id, "INBOX"))!.id;

  const s = await beginTransaction(smtp.port, ["a@example.com", "b@example.com"]);
  // Kill every connection of the service and make the database unreachable.
  await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [db.name]);
  await admin.query(`ALTER DATABASE ${db.name} RENAME TO ${hidden}`);
  s.write("second part\r\n.\r\n");
  assert.match(await s.reply(30_000), /^451 4\.3\.0/);
  s.close();

  await admin.query(`ALTER DATABASE ${hidden} RENAME TO ${db.name}`);
  assert.equal(await messageCount(runtime, boxA), 0, "nothing visible after the failed attempt");
  assert.equal(await messageCount(runtime, boxB), 0);

  // The sender retries the same message: delivered, to both, once.
  const retry = await beginTransaction(smtp.port, ["a@example.com", "b@example.com"]);
  retry.write("second part\r\n.\r\n");
  assert.match(await retry.reply(), /^250 2\.0\.0 OK /);
  retry.close();
  assert.equal(await messageCount(runtime, boxA), 1);
  assert.equal(await messageCount(runtime, boxB), 1);
});
