/**
 * Per-account session limits across replicas: two IMAP and two POP3
 * gateways, each on its own runtime, sharing one Postgres database and one
 * Redis key prefix. Over the limit, IMAP answers NO [LIMIT]; POP3's limit is
 * its maildrop lock (one session per account, RFC 1939 §8), so a second
 * session answers -ERR [IN-USE]. A session that ends frees its place for the
 * other replica.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "@aerogram/config";
import { ImapServer } from "@aerogram/imap";
import { createPop3Service } from "@aerogram/pop3";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import {
  createTestDatabase,
  requireServer,
  TEST_REDIS_URL,
  TextClient,
  tempDir,
  uniqueId,
} from "@aerogram/testkit";

/** Retries until the reply matches (a slot is freed asynchronously after the close). */
async function eventually(attempt: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("IMAP and POP3 session limits per account hold across two replicas sharing Redis", async (t) => {
  if (!(await requireServer(t, "postgres")) || !(await requireServer(t, "redis"))) return;
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-limits-");
  const env = {
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: "4",
    DATA_DIR: dir.path,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `t${uniqueId()}:`,
    LOG_LEVEL: "silent",
  };
  const runtimes: Runtime[] = [];
  for (const name of ["replica-a", "replica-b"])
    runtimes.push(await createRuntime(loadConfig(env), { service: name }));
  const imaps = runtimes.map((r) => new ImapServer(r, { maxSessionsPerAccount: 2 }));
  const imapPorts = await Promise.all(
    imaps.map(async (s) =>
      Number(/:(\d+)/.exec((await s.listen({ port: 0, host: "127.0.0.1" }))[0] ?? "")?.[1]),
    ),
  );
  const pop3s = await Promise.all(runtimes.map((r) => createPop3Service(r, { port: 0, host: "127.0.0.1" })));
  t.after(async () => {
    for (const s of imaps) await s.drain(0);
    for (const s of pop3s) await s.drain(0);
    for (const r of runtimes) await r.close();
    await db.drop();
    await dir.remove();
  });
  await runtimes[0]!.store.accounts.create({ address: "busy@example.org", password: "pw" });
  const [imapA, imapB] = imapPorts as [number, number];

  await t.test("IMAP: two sessions, one per replica, then NO [LIMIT] on either", async () => {
    const login = async (port: number, tag: string) => {
      const c = await TextClient.open(port);
      await c.say("", /^\* OK[^\n]*\n/);
      return {
        c,
        reply: await c.say(`${tag} LOGIN busy@example.org pw`, new RegExp(`^${tag} [^\\n]*\\n`, "m")),
      };
    };
    const one = await login(imapA, "a1");
    assert.match(one.reply, /^a1 OK/);
    const two = await login(imapB, "b1");
    assert.match(two.reply, /^b1 OK/);
    const three = await login(imapA, "a2");
    assert.match(three.reply, /^a2 NO \[LIMIT\]/);
    const four = await login(imapB, "b2");
    assert.match(four.reply, /^b2 NO \[LIMIT\]/);
    // The refused connections stay in the not-authenticated state and may try again.
    await one.c.quit("a9 LOGOUT");
    await eventually(async () => {
      const again = await four.c.say("b3 LOGIN busy@example.org pw", /^b3 [^\n]*\n/m);
      return /^b3 OK/.test(again);
    }, "the slot freed on replica A is usable on replica B");
    for (const x of [two, three, four]) await x.c.quit("z LOGOUT");
  });

  await t.test("POP3: a second session on the other replica gets -ERR [IN-USE] from the lock", async () => {
    const open = async (port: number) => {
      const c = await TextClient.open(port);
      await c.say("", /^\+OK[^\n]*\n/);
      await c.say("USER busy@example.org", /^\+OK[^\n]*\n/);
      return { c, reply: await c.say("PASS pw", /^[-+][^\n]*\n/m) };
    };
    const first = await open(pop3s[0]!.port);
    assert.match(first.reply, /^\+OK/);
    const second = await open(pop3s[1]!.port);
    assert.match(second.reply, /^-ERR \[IN-USE\] maildrop already locked/);
    await first.c.quit("QUIT");
    await eventually(async () => {
      await second.c.say("USER busy@example.org", /^\+OK[^\n]*\n/);
      return /^\+OK/.test(await second.c.say("PASS pw", /^[-+][^\n]*\n/m));
    }, "the maildrop is free after QUIT on the other replica");
    await second.c.quit("QUIT");
  });
});
