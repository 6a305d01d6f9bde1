/**
 * A Thunderbird-style session with a real client library (imapflow) over a real
 * socket: login, list, select, fetch envelope/bodystructure/body parts, flag,
 * search, move, append, expunge — against Postgres, s3rver and NATS.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { ImapFlow } from "imapflow";
import {
  type Backends,
  createAccount,
  type Gateway,
  message,
  startBackends,
  startGateway,
} from "./helpers.ts";

let backends: Backends;
let gateway: Gateway;

before(async () => {
  backends = await startBackends({ nats: true });
  gateway = await startGateway(backends);
});
after(async () => {
  await gateway?.close();
  await backends?.stop();
});

function client(user: string, pass: string): ImapFlow {
  return new ImapFlow({
    host: "127.0.0.1",
    port: gateway.port,
    secure: false,
    auth: { user, pass },
    logger: false,
    disableAutoIdle: true,
  });
}

const MULTIPART = [
  "From: Carol <carol@example.org>",
  "To: Dave <dave@example.org>",
  "Subject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=",
  "Date: Tue, 1 Apr 2025 10:00:00 +0200",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="b1"',
  "",
  "--b1",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: quoted-printable",
  "",
  "Gr=C3=BC=C3=9Fe aus dem Norden",
  "--b1",
  'Content-Type: application/octet-stream; name="data.bin"',
  "Content-Transfer-Encoding: base64",
  'Content-Disposition: attachment; filename="data.bin"',
  "",
  Buffer.from("binary attachment payload").toString("base64"),
  "--b1--",
  "",
].join("\r\n");

test("imapflow: login, list, append, select, fetch, flag, search, move, expunge", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const account = await createAccount(gateway.runtime);
  const imap = client(account.user, account.pass);
  await imap.connect();
  try {
    const folders = await imap.list();
    const paths = folders.map((f) => f.path).sort();
    assert.deepEqual(paths, ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]);
    assert.equal(folders.find((f) => f.path === "Sent")?.specialUse, "\\Sent");

    const first = await imap.append("INBOX", message("first", "plain body\r\n"), ["\\Flagged"]);
    assert.ok(first && typeof first === "object" && first.uid === 1, "APPENDUID reports uid 1");
    await imap.append("INBOX", MULTIPART, [], new Date("2025-04-01T08:00:00Z"));

    const mailbox = await imap.mailboxOpen("INBOX");
    assert.equal(mailbox.exists, 2);

    const one = await imap.fetchOne("1", {
      envelope: true,
      flags: true,
      size: true,
      internalDate: true,
      uid: true,
    });
    assert.ok(one);
    assert.equal(one.envelope?.subject, "first");
    assert.equal(one.envelope?.from?.[0]?.address, "alice@example.org");
    assert.ok(one.flags?.has("\\Flagged"));

    const two = await imap.fetchOne("2", { envelope: true, bodyStructure: true, uid: true });
    assert.ok(two);
    assert.equal(two.envelope?.subject, "Hello wörld");
    const parts = two.bodyStructure?.childNodes ?? [];
    assert.equal(parts.length, 2);
    assert.equal(parts[0]?.type, "text/plain");
    assert.equal(parts[1]?.disposition, "attachment");

    const text = await imap.download("2", "1");
    const chunks: Buffer[] = [];
    for await (const chunk of text.content) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString("utf8"), "Grüße aus dem Norden");
    const attachment = await imap.download("2", "2");
    const bin: Buffer[] = [];
    for await (const chunk of attachment.content) bin.push(chunk as Buffer);
    assert.equal(Buffer.concat(bin).toString("utf8"), "binary attachment payload");

    const source = await imap.fetchOne("1", { source: true });
    assert.ok(source, "message 1 fetched");
    assert.ok(source.source?.toString().includes("plain body"));

    await imap.messageFlagsAdd("2", ["\\Seen", "$Important"]);
    const flagged = await imap.fetchOne("2", { flags: true });
    assert.ok(flagged, "message 2 fetched");
    assert.ok(flagged.flags?.has("$Important"));

    assert.deepEqual(await imap.search({ subject: "wörld" }), [2]);
    assert.deepEqual(await imap.search({ body: "Norden" }), [2]);
    assert.deepEqual(await imap.search({ flagged: true }), [1]);
    assert.deepEqual(await imap.search({ seen: false }), [1]);

    const moved = await imap.messageMove("1", "Archive");
    assert.ok(moved && typeof moved === "object");
    assert.equal(imap.mailbox && typeof imap.mailbox === "object" ? imap.mailbox.exists : -1, 1);

    await imap.messageDelete("1");
    const status = await imap.status("INBOX", { messages: true, unseen: true });
    assert.equal(status.messages, 0);
    const archive = await imap.status("Archive", { messages: true });
    assert.equal(archive.messages, 1);
  } finally {
    await imap.logout();
  }
});

test("imapflow: wrong password is refused", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const account = await createAccount(gateway.runtime);
  const imap = client(account.user, "wrong");
  await assert.rejects(imap.connect());
});
