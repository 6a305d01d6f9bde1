/**
 * Debian's fetchmail, a real POP3 client, downloads a mailbox from the
 * gateway: with keep (messages stay; a second run fetches nothing new, which
 * relies on stable UIDLs) and without keep (QUIT deletes them). Messages
 * arrive byte-identical, including lines with leading dots and a large one.
 * fetchmail hands messages to the MDA with LF line ends, so they are compared
 * in that form.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Runtime } from "@aerogram/runtime";
import { tempDir } from "@aerogram/testkit";
import { createPop3Service, type Pop3Service } from "../src/service.ts";
import {
  accountWithMail,
  message,
  openRuntime,
  requireServers,
  serversReachable,
  startBackends,
  type TestBackends,
} from "./helpers.ts";

let backends: TestBackends | undefined;
let runtime: Runtime;
let pop3: Pop3Service;
let dir: { path: string; remove(): Promise<void> };
let inboxId: number;

const big = `${"x".repeat(998)}\r\n`.repeat(300);
const MESSAGES = [
  message(1),
  "From: a@example.net\r\nSubject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\n. space\r\nend\r\n",
  message(3, `large body\r\n${big}`),
  message(4, "last line without dot\r\n"),
];

before(async () => {
  if (!(await serversReachable(["postgres"]))) return;
  backends = await startBackends();
  runtime = await openRuntime(backends);
  pop3 = await createPop3Service(runtime, { host: "127.0.0.1", port: 0 });
  ({ inboxId } = await accountWithMail(runtime, "fm@example.org", "fetch pass", MESSAGES));
  dir = await tempDir("aerogram-fetchmail-");
});

after(async () => {
  if (!backends) return;
  await pop3.drain(100);
  await runtime.close();
  await backends.stop();
  await dir.remove();
});

async function runFetchmail(
  name: string,
  keep: boolean,
): Promise<{ code: number; files: string[]; log: string }> {
  const out = join(dir.path, name);
  await writeFile(join(dir.path, `${name}.keep`), "");
  const rc = join(dir.path, `${name}.rc`);
  await writeFile(
    rc,
    [
      "set no syslog",
      "set no bouncemail",
      "set invisible",
      `poll 127.0.0.1 service ${pop3.port} protocol pop3 uidl auth password`,
      `  user "fm@example.org" there with password "fetch pass" is "local" here`,
      `  ${keep ? "keep" : "nokeep fetchall"} no rewrite sslproto ''`,
      `  mda "/bin/sh -c 'mkdir -p ${out} && cat > ${out}/$$'"`,
      "",
    ].join("\n"),
  );
  await chmod(rc, 0o600);
  const args = ["-f", rc, "--idfile", join(dir.path, "fetchids"), "--pidfile", join(dir.path, "pid"), "-v"];
  const { code, log } = await new Promise<{ code: number; log: string }>((resolve) => {
    execFile("fetchmail", args, { env: { ...process.env, HOME: dir.path }, timeout: 60_000 }, (e, so, se) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 99) : 0, log: `${so}\n${se}` }),
    );
  });
  const files = await readdir(out).catch(() => [] as string[]);
  const bodies = await Promise.all(files.map((f) => readFile(join(out, f), "latin1")));
  return { code, files: bodies.sort(), log };
}

const asDelivered = MESSAGES.map((m) => m.replace(/\r\n/g, "\n")).sort();

test("fetchmail with keep: every message byte-identical, mail stays, UIDLs make the next run fetch nothing", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const first = await runFetchmail("keep1", true);
  assert.equal(first.code, 0, first.log);
  assert.deepEqual(first.files, asDelivered, first.log);
  assert.equal((await runtime.store.messages.listUids(inboxId)).length, MESSAGES.length);

  const second = await runFetchmail("keep2", true);
  assert.equal(second.code, 1, `exit 1 means "no new mail"\n${second.log}`);
  assert.deepEqual(second.files, []);
});

test("fetchmail without keep: everything downloaded, then deleted on the server", async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runFetchmail("nokeep", false);
  assert.equal(run.code, 0, run.log);
  // The seen UIDLs don't stop deletion of already-fetched mail in nokeep mode; all were fetched before.
  assert.ok(
    run.files.every((f) => asDelivered.includes(f)),
    run.log,
  );
  assert.deepEqual(await runtime.store.messages.listUids(inboxId), [], run.log);
});
