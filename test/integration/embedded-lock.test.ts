/**
 * Two processes must never open one PGlite data directory. With `npm start`
 * running, a second `npm start` on the same DATA_DIR stops with a message
 * naming the first, and mailctl goes through the running one; after a crash
 * (SIGKILL leaves the lock behind) mailctl and the next start take the stale
 * lock over and find the data intact.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanEnv, runTsProcess, startTsProcess, tempDir } from "@aerogram/testkit";

const MAIN = "services/aerogram/src/main.ts";
const MAILCTL = "services/admin/src/mailctl.ts";

test("a second process on the same data directory is refused; a crashed owner's lock is taken over", {
  timeout: 300_000,
}, async (t) => {
  const dir = await tempDir("aerogram-lock-");
  t.after(() => dir.remove());
  const env = cleanEnv({
    DATA_DIR: dir.path,
    SMTP_PORT: "0",
    IMAP_PORT: "0",
    POP3_PORT: "0",
    HTTP_PORT: "0",
    EMBEDDED_PG_PORT: "0",
  });
  const first = startTsProcess(MAIN, [], env);
  t.after(() => first.stop("SIGKILL"));
  await first.waitFor(/Demo account: /, 180_000);
  const pid = first.child.pid!;

  const second = await runTsProcess(MAIN, [], env);
  assert.equal(second.code, 1, second.stdout + second.stderr);
  assert.match(
    second.stderr,
    new RegExp(
      `the embedded database .*/pg is in use by process ${pid} \\(serving it on 127\\.0\\.0\\.1:\\d+\\)`,
    ),
  );
  assert.match(second.stderr, /only one process may open it/);

  const add = await runTsProcess(MAILCTL, ["add", "while-running@example.org", "--password", "pw-1"], env);
  assert.equal(add.code, 0, add.stderr);

  // A crash leaves the lock file behind; its process is gone, so it is stale.
  assert.equal(await first.stop("SIGKILL"), null);
  const offline = await runTsProcess(MAILCTL, ["add", "after-crash@example.org", "--password", "pw-2"], env);
  assert.equal(offline.code, 0, offline.stderr);
  const list = await runTsProcess(MAILCTL, ["list"], env);
  assert.match(list.stdout, /^while-running@example\.org/m);
  assert.match(list.stdout, /^after-crash@example\.org/m);

  const again = startTsProcess(MAIN, [], env);
  t.after(() => again.stop("SIGKILL"));
  await again.waitFor(/Demo account: /, 180_000);
  const listed = await runTsProcess(MAILCTL, ["list"], env);
  assert.match(listed.stdout, /^after-crash@example\.org/m);
  assert.equal(await again.stop("SIGTERM"), 0);
});
