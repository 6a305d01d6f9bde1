/**
 * mailctl migrate (issue 22) from a private Dovecot (testkit's starter, its
 * own ports and files): every folder with hierarchy and special use, flags,
 * keywords and INTERNALDATEs, the same bytes; a second run copies nothing; a
 * later run brings new messages and changed flags; a connection the source
 * drops midway is resumed without duplicates.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Runtime } from "@aerogram/runtime";
import {
  dovecotUnavailable,
  type PrivateDovecot,
  requireServer,
  startPrivateDovecot,
  startTestBackend,
  type TestBackend,
  tempDir,
} from "@aerogram/testkit";
import { ImapFlow } from "imapflow";
import { runLifecycleCommand } from "../src/lifecycle-commands.ts";

const SRC = "src@old.test";
const PASSWORD = "source-password";
let backend: TestBackend<"fs">;
let rt: Runtime;
let dovecot: PrivateDovecot | undefined;
let dir: { path: string; remove(): Promise<void> };
let passwordFile: string;

const SETTINGS = `namespace inbox {
  inbox = yes
  separator = .
  mailbox "Sent Items" {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}
`;

before(async (t) => {
  if (!(await requireServer(t as never, "postgres"))) return;
  if (dovecotUnavailable(["imap"])) return;
  backend = await startTestBackend({ blobs: "fs" });
  rt = await backend.runtime("admin-migrate-test");
  dovecot = await startPrivateDovecot({
    protocols: ["imap"],
    users: [SRC],
    password: PASSWORD,
    settings: SETTINGS,
  });
  dir = await tempDir("aerogram-migrate-");
  passwordFile = join(dir.path, "pw");
  await writeFile(passwordFile, `${PASSWORD}\n`);
});
after(async () => {
  await rt?.close();
  await backend?.stop();
  await dovecot?.stop();
  await dir?.remove();
});

function source(): ImapFlow {
  const c = new ImapFlow({
    host: "127.0.0.1",
    port: dovecot!.ports.imap!,
    secure: false,
    auth: { user: SRC, pass: PASSWORD },
    logger: false,
  });
  c.on("error", () => {});
  return c;
}

const text = (n: string, body = "hello") =>
  `From: someone@old.test\r\nTo: src@old.test\r\nSubject: ${n}\r\nMessage-ID: <${n}@old.test>\r\n\r\n${body}\r\n`;

/** Source folders as our names → [bytes, flags, internal date (s)] in UID order. */
async function sourceContents(): Promise<Record<string, [string, string[], number][]>> {
  const c = source();
  await c.connect();
  const out: Record<string, [string, string[], number][]> = {};
  try {
    for (const f of await c.list()) {
      if (f.flags.has("\\Noselect") || f.flags.has("\\NonExistent")) continue;
      const lock = await c.getMailboxLock(f.path, { readOnly: true });
      try {
        const rows: [string, string[], number][] = [];
        if (c.mailbox && c.mailbox.exists > 0)
          for await (const m of c.fetch("1:*", { source: true, flags: true, internalDate: true })) {
            const flags = [...(m.flags ?? [])].filter((x) => x !== "\\Recent").sort();
            rows.push([
              m.source!.toString("latin1"),
              flags,
              Math.floor(new Date(m.internalDate!).getTime() / 1000),
            ]);
          }
        out[f.path === "INBOX" ? "INBOX" : f.path.split(".").join("/")] = rows;
      } finally {
        lock.release();
      }
    }
  } finally {
    await c.logout();
  }
  return out;
}

async function ourContents(address: string, names: string[]) {
  const a = (await rt.store.accounts.byAddress(address))!;
  const out: Record<string, [string, string[], number][]> = {};
  for (const name of names) {
    const box = await rt.store.mailboxes.byName(a.id, name === "Sent Items" ? "Sent" : name);
    assert.ok(box, `mailbox ${name} exists`);
    const rows = await rt.store.transfers.exportPage(box.id, 0, 1000);
    out[name] = await Promise.all(
      rows.map(
        async (r): Promise<[string, string[], number]> => [
          (await rt.blobs.read(r.blobKey)).toString("latin1"),
          [...r.flags].sort(),
          Math.floor(r.internalDate.getTime() / 1000),
        ],
      ),
    );
  }
  return out;
}

const migrate = (address: string, port = dovecot!.ports.imap!) =>
  runLifecycleCommand(rt, [
    "migrate",
    address,
    "--from",
    `imap://127.0.0.1:${port}`,
    "--user",
    SRC,
    "--password-file",
    passwordFile,
    "--quiet",
  ]);

test("migrate copies every folder with flags, keywords, dates and special use; a second run copies nothing", async (t) => {
  if (!backend || !dovecot) return t.skip(dovecotUnavailable(["imap"]) ?? "no postgres");
  const c = source();
  await c.connect();
  await c.mailboxCreate("Projects.2026");
  await c.append("INBOX", text("in-1"), ["\\Seen"], new Date(Date.UTC(2020, 1, 2, 3, 4, 5)));
  await c.append("INBOX", text("in-2"), ["\\Flagged", "$Label1"], new Date(Date.UTC(2021, 6, 7, 8, 9, 10)));
  await c.append("INBOX", text("in-3"), [], new Date(Date.UTC(2022, 11, 31, 23, 59, 59)));
  await c.append("Sent Items", text("sent-1"), ["\\Seen", "\\Answered"], new Date(Date.UTC(2019, 0, 1)));
  await c.append("Junk", text("junk-1"), [], new Date(Date.UTC(2024, 3, 4)));
  await c.append("Projects.2026", text("p-1"), ["project-x", "\\Draft"], new Date(Date.UTC(2026, 0, 1)));
  await c.append("Projects.2026", text("p-2", "body\r\nFrom here\r\n"), [], new Date(Date.UTC(2026, 0, 2)));
  await c.logout();

  await rt.store.accounts.create({ address: "dst@example.com", password: "pw" });
  const first = await migrate("dst@example.com");
  assert.equal(first.code, 0, first.output);
  assert.match(first.output, /migrated \d+ folders: 7 messages copied/);
  const want = await sourceContents();
  const got = await ourContents("dst@example.com", ["INBOX", "Sent Items", "Junk", "Projects/2026"]);
  for (const name of ["INBOX", "Sent Items", "Junk", "Projects/2026"])
    assert.deepEqual(got[name], want[name], `${name}: same bytes, flags and dates`);
  const a = (await rt.store.accounts.byAddress("dst@example.com"))!;
  const boxes = await rt.store.mailboxes.list(a.id);
  assert.equal(
    boxes.filter((m) => m.specialUse === "\\Sent").length,
    1,
    "Sent Items went to our \\Sent mailbox",
  );
  assert.ok(
    boxes.some((m) => m.name === "Projects/2026"),
    "hierarchy kept with our delimiter",
  );

  const second = await migrate("dst@example.com");
  assert.match(second.output, /0 messages copied .* flags updated on 0/);

  // Changes on the source: a new message, a flag set, a keyword removed.
  const c2 = source();
  await c2.connect();
  await c2.append("INBOX", text("in-4"), [], new Date(Date.UTC(2025, 4, 5)));
  let lock = await c2.getMailboxLock("INBOX");
  await c2.messageFlagsAdd({ seq: "3" }, ["\\Seen"]);
  lock.release();
  lock = await c2.getMailboxLock("Projects.2026");
  await c2.messageFlagsRemove({ seq: "1" }, ["project-x"]);
  lock.release();
  await c2.logout();
  const third = await migrate("dst@example.com");
  assert.match(third.output, /1 messages copied .* flags updated on 2/);
  const want3 = await sourceContents();
  const got3 = await ourContents("dst@example.com", ["INBOX", "Projects/2026"]);
  assert.deepEqual(got3.INBOX, want3.INBOX);
  assert.deepEqual(got3["Projects/2026"], want3["Projects/2026"]);
});

test("a source that drops the connection midway: the run reconnects, resumes, and copies each message once", async (t) => {
  if (!backend || !dovecot) return t.skip(dovecotUnavailable(["imap"]) ?? "no postgres");
  // A proxy that cuts its first connection after 1500 bytes from the server (inside the first folder's FETCH).
  let cut = false;
  const sockets: Socket[] = [];
  const proxy: Server = createServer((client) => {
    const upstream = netConnect({ host: "127.0.0.1", port: dovecot!.ports.imap! });
    sockets.push(client, upstream);
    let bytes = 0;
    const first = !cut;
    upstream.on("data", (d: Buffer) => {
      bytes += d.length;
      client.write(d);
      if (first && bytes > 1500 && !cut) {
        cut = true;
        client.destroy();
        upstream.destroy();
      }
    });
    client.on("data", (d: Buffer) => upstream.write(d));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => proxy.close(() => r()));
  });
  await rt.store.accounts.create({ address: "cut@example.com", password: "pw" });
  const r = await migrate("cut@example.com", (proxy.address() as AddressInfo).port);
  assert.ok(cut, "the connection was cut");
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /reconnects/);
  const want = await sourceContents();
  const got = await ourContents("cut@example.com", ["INBOX", "Sent Items", "Junk", "Projects/2026"]);
  for (const name of ["INBOX", "Sent Items", "Junk", "Projects/2026"])
    assert.deepEqual(got[name], want[name], `${name}: each message once`);
});
