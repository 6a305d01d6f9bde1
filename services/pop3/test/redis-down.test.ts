/**
 * A dead Redis (the maildrop lock and the login back-off live there): a login
 * gets -ERR [SYS/TEMP], the session and the gateway go on, and nothing is left
 * locked. Both login paths: a password the verified-login cache knows (the
 * block check and the lock as one script on the lock's own connection) and
 * one it doesn't (the Authenticator's MGET).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort } from "@aerogram/testkit";
import { createPop3Service } from "../src/service.ts";
import { accountWithMail, login, message, RawClient, requireServers, startBackends } from "./helpers.ts";

test("Redis down: logins answer -ERR [SYS/TEMP], the session goes on, no lock is left", {
  timeout: 120_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres", "redis"]))) return;
  const backends = await startBackends({ redis: true });
  const up = await backends.runtime("pop3-test");
  // The same database, and a Redis URL where nothing listens.
  const down = await backends.runtime("pop3-test", {
    REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
  });
  const good = await createPop3Service(up, { host: "127.0.0.1", port: 0 });
  const bad = await createPop3Service(down, { host: "127.0.0.1", port: 0 });
  try {
    await accountWithMail(up, "dora@example.org", "dora pass", [message(1)]);
    // A good login through the working gateway puts the password in this process's verified-login cache.
    const first = await RawClient.connect(good.port);
    assert.match(await login(first, "dora@example.org", "dora pass"), /^\+OK maildrop has 1 /);
    assert.match(await first.cmd("QUIT"), /^\+OK/);
    first.destroy();

    const c = await RawClient.connect(bad.port);
    // Cached password: the one-script path.
    assert.equal(
      await login(c, "dora@example.org", "dora pass"),
      "-ERR [SYS/TEMP] authentication temporarily unavailable",
    );
    // A password the cache doesn't know: the Authenticator's own block check.
    assert.match(await c.cmd("USER dora@example.org"), /^\+OK/);
    assert.equal(
      await c.cmd("PASS not the password"),
      "-ERR [SYS/TEMP] authentication temporarily unavailable",
    );
    // The session is still there, and so is the gateway.
    assert.match(await c.cmd("CAPA"), /^\+OK/);
    await c.multiline();
    assert.match(await c.cmd("QUIT"), /^\+OK/);
    c.destroy();
    const again = await RawClient.connect(bad.port);
    assert.match(await again.line(), /^\+OK/);
    again.destroy();

    // Nothing was locked: the working gateway lets the same account in at once.
    const after = await RawClient.connect(good.port);
    assert.match(await login(after, "dora@example.org", "dora pass"), /^\+OK maildrop has 1 /);
    assert.match(await after.cmd("QUIT"), /^\+OK/);
    after.destroy();
  } finally {
    await bad.drain(100);
    await good.drain(100);
    await down.close();
    await up.close();
    await backends.stop();
  }
});
