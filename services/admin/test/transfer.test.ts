/**
 * mailctl export / import (issue 22) on a real backend (Postgres, blobs on
 * the filesystem), through the command functions mailctl runs: mbox and
 * maildir round trips byte for byte with flags and dates, idempotent
 * re-imports, a resumed export, and bad input (a truncated mbox, garbage in
 * a maildir, a message over the size limit) reported and skipped.
 */
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Delivery } from "@aerogram/delivery";
import type { Runtime } from "@aerogram/runtime";
import { requireServer, startTestBackend, type TestBackend, tempDir } from "@aerogram/testkit";
import { exportMail } from "../src/lifecycle/transfer.ts";
import { runLifecycleCommand } from "../src/lifecycle-commands.ts";

let backend: TestBackend<"fs">;
let rt: Runtime;
let dir: { path: string; remove(): Promise<void> };

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  backend = await startTestBackend({ blobs: "fs", settings: { SMTP_MAX_MESSAGE_BYTES: "4096" } });
  rt = await backend.runtime("admin-transfer-test");
  dir = await tempDir("aerogram-transfer-");
});
after(async () => {
  await rt?.close();
  await backend?.stop();
  await dir?.remove();
});

const msg = (n: number, extra = "") =>
  Buffer.from(
    `From: a${n}@remote.test\r\nTo: x@example.com\r\nSubject: message ${n}\r\nMessage-ID: <m${n}@remote.test>\r\n\r\nline one\r\nFrom the start of a line\r\n>From quoted already\r\n${extra}end\r\n`,
  );

async function seed(address: string, count: number) {
  const a = await rt.store.accounts.create({ address, password: "pw" });
  const inbox = (await rt.store.mailboxes.byName(a.id, "INBOX"))!;
  const sub = await rt.store.mailboxes.create(a.id, "Projects/2026");
  const d = new Delivery(rt);
  for (let i = 0; i < count; i++) {
    const flags = i % 3 === 0 ? ["\\Seen", "\\Flagged"] : i % 3 === 1 ? ["\\Answered", "project-x"] : [];
    await d.deliver(msg(i), [{ mailboxId: inbox.id, flags }], new Date(Date.UTC(2024, 0, 1 + i, 12, 30, 15)));
  }
  await d.deliver(msg(100), [{ mailboxId: sub.id, flags: ["\\Draft"] }], new Date(Date.UTC(2023, 5, 6)));
  return { id: a.id, inbox: inbox.id, sub: sub.id };
}

/** What a mailbox holds: content bytes, flags, INTERNALDATE (to the second), in UID order. */
async function contents(accountId: number, name: string) {
  const box = (await rt.store.mailboxes.byName(accountId, name))!;
  const rows = await rt.store.transfers.exportPage(box.id, 0, 1000);
  return Promise.all(
    rows.map(async (r) => ({
      bytes: (await rt.blobs.read(r.blobKey)).toString("latin1"),
      flags: [...r.flags].sort(),
      date: Math.floor(r.internalDate.getTime() / 1000),
    })),
  );
}

const run = (...argv: string[]) => runLifecycleCommand(rt, [...argv, "--quiet"]);

test("mbox: export → import round-trips byte for byte with dates; re-import adds nothing; export resumes", async (t) => {
  if (!backend) return t.skip("no postgres");
  const src = await seed("mbox-src@example.com", 7);
  const file = join(dir.path, "inbox.mbox");
  const out = await run("export", "mbox-src@example.com", "--format", "mbox", file);
  assert.equal(out.code, 0, out.output);
  assert.match(out.output, /exported 7 messages/);
  const text = await readFile(file, "latin1");
  assert.equal((text.match(/^From MAILER-DAEMON /gm) ?? []).length, 7);
  assert.match(text, /^>From the start of a line$/m, "mboxrd quoting");
  assert.match(text, /^>>From quoted already$/m);

  await rt.store.accounts.create({ address: "mbox-dst@example.com", password: "pw" });
  const imported = await run("import", "mbox-dst@example.com", file);
  assert.equal(imported.code, 0, imported.output);
  assert.match(imported.output, /imported 7 messages/);
  const dst = (await rt.store.accounts.byAddress("mbox-dst@example.com"))!;
  const before = await contents(src.id, "INBOX");
  const afterImport = await contents(dst.id, "INBOX");
  assert.deepEqual(
    afterImport.map((m) => [m.bytes, m.date]),
    before.map((m) => [m.bytes, m.date]),
    "same bytes and INTERNALDATEs",
  );
  // Idempotent: nothing new the second time.
  const again = await run("import", "mbox-dst@example.com", file);
  assert.match(again.output, /imported 0 messages .*; 7 already there; 0 skipped/);
  // And the imported mailbox exports to the identical file.
  const file2 = join(dir.path, "inbox2.mbox");
  await run("export", "mbox-dst@example.com", "--format", "mbox", file2);
  assert.ok((await readFile(file2)).equals(await readFile(file)), "export of the import is the same file");

  // Interrupted after 3 messages (the state is saved per page: use a page-sized interruption by
  // killing the progress callback), then resumed: the same file as one uninterrupted run.
  const file3 = join(dir.path, "resumed.mbox");
  await assert.rejects(
    exportMail(rt, "mbox-src@example.com", file3, {
      format: "mbox",
      onProgress: (p) => {
        if (p.done === 3) throw new Error("killed");
      },
    }),
  );
  // Simulate the progress of a run that got through 2 messages, with garbage written after them.
  const full = await readFile(file);
  const two = full.indexOf("\nFrom MAILER-DAEMON", full.indexOf("\nFrom MAILER-DAEMON") + 1) + 1;
  const box = (await rt.store.mailboxes.byName(src.id, "INBOX"))!;
  const uids = (await rt.store.transfers.exportPage(box.id, 0, 2)).map((r) => r.uid);
  await writeFile(file3, Buffer.concat([full.subarray(0, two), Buffer.from("From half a mess")]));
  await writeFile(
    `${file3}.progress`,
    JSON.stringify({
      mailbox: "INBOX",
      uidValidity: box.uidValidity,
      lastUid: uids[1],
      offset: two,
      exported: 2,
    }),
  );
  const resumed = await run("export", "mbox-src@example.com", "--format", "mbox", file3);
  assert.match(resumed.output, /exported 5 messages.*2 already there/);
  assert.ok((await readFile(file3)).equals(full), "the resumed export equals an uninterrupted one");
  await assert.rejects(stat(`${file3}.progress`), "progress file removed when complete");
});

test("maildir: every folder with flags, keywords and dates; resumable; re-import adds nothing", async (t) => {
  if (!backend) return t.skip("no postgres");
  const src = await seed("md-src@example.com", 5);
  const root = join(dir.path, "Maildir");
  const out = await run("export", "md-src@example.com", "--format", "maildir", root);
  assert.match(out.output, /exported 6 messages .* from 7 mailbox\(es\)/);
  assert.equal((await readdir(join(root, "cur"))).length, 5);
  assert.equal((await readdir(join(root, ".Projects.2026", "cur"))).length, 1);
  assert.match(await readFile(join(root, "dovecot-keywords"), "utf8"), /^0 project-x$/m);
  const names = await readdir(join(root, "cur"));
  assert.ok(names.some((n) => n.endsWith(":2,FS")) && names.some((n) => n.endsWith(":2,Ra")));
  // A second export writes nothing new.
  assert.match(
    (await run("export", "md-src@example.com", "--format", "maildir", root)).output,
    /exported 0 messages .*; 6 already there from an earlier run/,
  );

  await rt.store.accounts.create({ address: "md-dst@example.com", password: "pw" });
  const imported = await run("import", "md-dst@example.com", root);
  assert.equal(imported.code, 0, imported.output);
  assert.match(imported.output, /imported 6 messages/);
  const dst = (await rt.store.accounts.byAddress("md-dst@example.com"))!;
  for (const name of ["INBOX", "Projects/2026"])
    assert.deepEqual(
      await contents(dst.id, name),
      await contents(src.id, name),
      `${name}: bytes, flags, dates`,
    );
  assert.match(
    (await run("import", "md-dst@example.com", root)).output,
    /imported 0 messages .*6 already there/,
  );
});

test("bad input: a truncated mbox, garbage in a maildir, a message over the limit: reported, skipped, nothing half-imported", async (t) => {
  if (!backend) return t.skip("no postgres");
  const a = await rt.store.accounts.create({ address: "bad@example.com", password: "pw" });
  const file = join(dir.path, "bad.mbox");
  await writeFile(
    file,
    [
      "From someone Mon Jan  1 10:00:00 2024",
      "Subject: whole",
      "",
      "fine",
      "",
      "From someone Mon Jan  1 10:00:01 2024",
      "Subject: big",
      "",
      "x".repeat(5000),
      "",
      "From someone Mon Jan  1 10:00:02 2024",
      "Subject: cut",
      "",
      "this message is cut in the midd",
    ].join("\n"),
  );
  const r = await run("import", "bad@example.com", file);
  assert.equal(r.code, 1);
  assert.match(r.output, /imported 1 messages/);
  assert.match(r.output, /message 2: larger than 4096 octets/);
  assert.match(r.output, /message 3: truncated/);
  assert.deepEqual(
    (await contents(a.id, "INBOX")).map((m) => m.bytes),
    ["Subject: whole\r\n\r\nfine\r\n"],
  );
  // A file cut right after a whole message's text but before its empty line is truncated too.
  await truncate(file, (await readFile(file)).indexOf("\nFrom someone", 10));
  assert.match((await run("import", "bad@example.com", file)).output, /message 1: truncated/);
  // Not an mbox at all.
  await writeFile(file, "hello\nworld\n");
  assert.match((await run("import", "bad@example.com", file)).output, /not an mbox/);

  const root = join(dir.path, "BadMaildir");
  for (const s of ["cur", "new", "tmp"]) await mkdir(join(root, s), { recursive: true });
  await writeFile(join(root, "cur", "1.good:2,S"), "Subject: good\n\nok\n");
  await writeFile(join(root, "cur", "2.empty:2,"), "");
  await writeFile(join(root, "cur", "3.binary:2,"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
  await writeFile(join(root, "new", "4.big"), `Subject: big\n\n${"y".repeat(5000)}\n`);
  await mkdir(join(root, "cur", "5.dir"));
  const m = await run("import", "bad@example.com", root, "--mailbox", "Restored");
  assert.match(m.output, /imported 1 messages .* 4 skipped/);
  assert.match(m.output, /2\.empty:2,: empty/);
  assert.match(m.output, /3\.binary:2,: not a message/);
  assert.match(m.output, /4\.big: larger than/);
  assert.match(m.output, /5\.dir: not a regular file/);
  const restored = await contents(a.id, "Restored");
  assert.deepEqual(
    restored.map((x) => [x.bytes, x.flags]),
    [["Subject: good\r\n\r\nok\r\n", ["\\Seen"]]],
  );
});
