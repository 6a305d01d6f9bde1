/**
 * Learning from users, end to end against a REAL rspamd with Bayes statistics
 * (testkit startPrivateRspamd with the shared Redis, database 7, under
 * statfile names unique to this run): messages delivered over SMTP, moved
 * into Junk with IMAP MOVE and with COPY + EXPUNGE (learnspam), moved back
 * out (learnham), moved in again (not learnt twice); SMTP-in's learner drains
 * the outbox asynchronously and rspamd's /stat counts exactly those learns.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startImap } from "@aerogram/imap";
import { requireServers, rspamdAvailable, startPrivateRspamd, TEST_REDIS_URL } from "@aerogram/testkit";
import { ImapFlow } from "imapflow";
import { openSession, startService, startSmtpBackend } from "./support.ts";

async function waitFor<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("moves into and out of Junk teach rspamd, once per message and class", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats", "redis"]))) return;
  const missing = rspamdAvailable();
  if (missing) {
    if (process.env.CI === "true") assert.fail(missing);
    t.skip(missing);
    return;
  }
  const redis = new URL(TEST_REDIS_URL);
  const rspamd = await startPrivateRspamd({
    bayesRedis: { server: `${redis.hostname}:${redis.port || 6379}`, db: 7 },
  });
  t.after(() => rspamd.stop());
  const backend = await startSmtpBackend();
  t.after(() => backend.stop());
  const runtime = await backend.runtime("junk-learning-test", {
    RSPAMD_URL: rspamd.url,
    RSPAMD_CONTROLLER_URL: rspamd.controllerUrl,
    IMAP_PORT: "0",
  });
  t.after(() => runtime.close());
  const smtp = await startService(runtime, { resolver: async () => Promise.reject(new Error("no dns")) });
  t.after(() => smtp.stop());
  const imap = await startImap(runtime);
  t.after(() => imap.drain(0));
  await runtime.store.accounts.create({ address: "alice@example.com", password: "pw" });

  const run = Math.random().toString(36).slice(2);
  for (const n of [1, 2]) {
    const s = await openSession(smtp.port);
    await s.cmd("MAIL FROM:<seller@shop.test>");
    await s.cmd("RCPT TO:<alice@example.com>");
    await s.cmd("DATA");
    const words = "discount replica watches cheap pharmacy offer limited casino bonus winner ".repeat(4);
    const reply = await s.cmd(
      `From: seller@shop.test\r\nTo: alice@example.com\r\nSubject: offer ${n} ${run}\r\nMessage-ID: <${run}.${n}@shop.test>\r\n\r\n${words} ${run} ${n}\r\n.`,
    );
    assert.match(reply, /^250 /);
    s.close();
  }

  const client = new ImapFlow({
    host: "127.0.0.1",
    port: Number(/:(\d+)/.exec(imap.endpoints[0]!)![1]),
    secure: false,
    auth: { user: "alice@example.com", pass: "pw" },
    logger: false,
  });
  await client.connect();
  t.after(() => client.logout().catch(() => {}));
  await client.mailboxOpen("INBOX");
  await client.messageMove("1", "Junk"); // MOVE: offer 1 → spam
  await client.messageCopy("1", "Junk"); // offer 2: COPY then EXPUNGE → spam
  await client.messageDelete("1");
  await client.mailboxOpen("Junk");
  const first = await client.search({ subject: `offer 1 ${run}` });
  await client.messageMove(first as number[], "INBOX"); // back out → ham
  await client.mailboxOpen("INBOX");
  await client.messageMove("1:*", "Junk"); // in again → already queued as spam: not again

  const { rows } = await runtime.store.pool.query<{ kind: string }>(
    "SELECT kind FROM spam_learn_outbox ORDER BY id",
  );
  assert.deepEqual(
    rows.map((r) => r.kind),
    ["spam", "spam", "ham"],
  );
  await waitFor("the learner to finish", async () =>
    (await runtime.store.filtering.learnPending()) === 0 ? true : undefined,
  );
  const done = await runtime.store.pool.query<{ last_error: string | null; done: boolean }>(
    "SELECT last_error, done_at IS NOT NULL AS done FROM spam_learn_outbox",
  );
  for (const r of done.rows) assert.deepEqual(r, { last_error: null, done: true });
  const stat = (await (await fetch(`${rspamd.controllerUrl}/stat`)).json()) as { learned: number };
  assert.equal(stat.learned, 3);
});
