/**
 * A maildrop lease lost while a command runs (Redis restarted empty, or the
 * key expired): the command in progress finishes, then the session ends with
 * -ERR [SYS/TEMP] and applies no deletions; the connection is never cut in the
 * middle of a response. The loss is real: the lease key is deleted from Redis,
 * as a restart without persistence does, while a large RETR waits on a client
 * that doesn't read.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { maildropLockKey } from "../src/maildrop.ts";
import { createPop3Service } from "../src/service.ts";
import {
  accountWithMail,
  login,
  message,
  openRuntime,
  RawClient,
  requireServers,
  startBackends,
} from "./helpers.ts";

test("lease lost during a RETR: the RETR completes, then -ERR [SYS/TEMP], nothing deleted", async (t) => {
  if (!(await requireServers(t, ["postgres", "redis"]))) return;
  const backends = await startBackends({ redis: true });
  const runtime = await openRuntime(backends);
  // Renewed every second, so a renewal soon meets the deleted key.
  const pop3 = await createPop3Service(runtime, { host: "127.0.0.1", port: 0, leaseMs: 3000 });
  const redis = new Redis(backends.env.REDIS_URL!);
  try {
    // Large enough to stream from S3 and to fill the socket buffers of a client that doesn't read.
    const line = `${"x".repeat(998)}\r\n`;
    const big = message(1, line.repeat(16 * 1024));
    const { accountId } = await accountWithMail(runtime, "bob@example.org", "pw", [big, message(2)]);
    const c = await RawClient.connect(pop3.port);
    assert.match(await login(c, "bob@example.org", "pw"), /^\+OK/);
    assert.match(await c.cmd("DELE 2"), /^\+OK/);
    c.socket.pause();
    c.send("RETR 1\r\n");
    await new Promise((r) => setTimeout(r, 300));
    const key = `${backends.env.REDIS_KEY_PREFIX}lease:${maildropLockKey(accountId)}`;
    await redis.del(key); // (on a very slow machine the lease may have expired already: lost either way)
    await new Promise((r) => setTimeout(r, 2500)); // renewals find it gone
    c.socket.resume();
    assert.match(await c.line(), /^\+OK \d+ octets$/);
    const body = await c.multiline();
    assert.equal(body.length, Buffer.byteLength(big, "latin1"));
    assert.equal(await c.line(), "-ERR [SYS/TEMP] maildrop lock lost; no messages deleted");
    await c.waitClosed();
    // The deletion was not applied: a new session sees both messages.
    const d = await RawClient.connect(pop3.port);
    assert.match(await login(d, "bob@example.org", "pw"), /^\+OK/);
    assert.match(await d.cmd("STAT"), /^\+OK 2 /);
    await d.cmd("QUIT");
  } finally {
    redis.disconnect();
    await pop3.drain(1000);
    await runtime.close();
    await backends.stop();
  }
});
