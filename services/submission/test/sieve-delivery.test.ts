/**
 * Sieve on submission's local deliveries (issue 21 item 4), over real SMTP
 * sockets (loopback: AUTH PLAIN without TLS) on the testkit backend: the
 * recipient's active script files the message with flags instead of INBOX;
 * a client retrying the same bytes after a "lost" 250 gets no second copy and
 * no second vacation reply; a reject answers the submitting client 250 and
 * queues a rejection notice to the sending account (what Pigeonhole does for
 * LMTP/LDA deliveries, RFC 5429 §2.1), storing nothing for the rejecter.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { COMPILER_VERSION, compileScript } from "@aerogram/sieve";
import { requireServer } from "@aerogram/testkit";
import { collect, SmtpTalk } from "../../smtp-in/test/support.ts";
import { type Harness, startHarness } from "./support.ts";

const PASSWORD = "sieve pass";
let h: Harness | undefined;

before(async (t) => {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t as never, s))) return;
  h = await startHarness();
});
after(() => h?.close());

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString("base64");

/** One authenticated submission transaction; returns the final reply. */
async function submit(port: number, from: string, to: string, raw: string): Promise<string> {
  const s = await SmtpTalk.open(port);
  try {
    assert.match(await s.reply(), /^220 /);
    assert.match(await s.cmd("EHLO client.test"), /^250/);
    assert.match(await s.cmd(`AUTH PLAIN ${plain(from, PASSWORD)}`), /^235 /);
    assert.match(await s.cmd(`MAIL FROM:<${from}>`), /^250/);
    assert.match(await s.cmd(`RCPT TO:<${to}>`), /^250/);
    assert.match(await s.cmd("DATA"), /^354/);
    return await s.cmd(`${raw}\r\n.`);
  } finally {
    s.close();
  }
}

const message = (subject: string, id: string) =>
  [
    "From: Alice <alice@local.test>",
    "To: bob@local.test",
    `Subject: ${subject}`,
    `Message-ID: <${id}@local.test>`,
    "",
    "Hello Bob.",
  ].join("\r\n");

test("submission runs the local recipient's Sieve script", async (t) => {
  if (!h) return t.skip("servers unavailable");
  const { store } = h.runtime;
  await store.accounts.create({ address: "alice@local.test", password: PASSWORD });
  const bob = await store.accounts.create({ address: "bob@local.test", password: PASSWORD });
  const bobInbox = (await store.mailboxes.byName(bob.id, "INBOX"))!.id;
  const activate = async (source: string) => {
    await store.sieve.put(bob.id, "main", source, compileScript(source), COMPILER_VERSION);
    assert.ok(await store.sieve.setActive(bob.id, "main"));
  };
  const rows = async (mailboxId: number) =>
    (
      await store.pool.query<{ flags: number; blob_key: string }>(
        "SELECT flags, blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid",
        [mailboxId],
      )
    ).rows;
  const queued = async () => store.outbound.list({ limit: 100 });

  await t.test(
    "fileinto :create with \\Flagged lands in Lists, not INBOX; a retry adds no copy",
    async () => {
      // RFC 5232 §3: a flag applies to the fileinto/keep that runs after it (see the last check).
      await activate(
        'require ["fileinto","mailbox","imap4flags"];\naddflag "\\\\Flagged";\nfileinto :create "Lists";',
      );
      const raw = message("to the list", "list-1");
      assert.match(await submit(h!.port, "alice@local.test", "bob@local.test", raw), /^250 /);
      const lists = await store.mailboxes.byName(bob.id, "Lists");
      assert.ok(lists, "Lists created by :create");
      const filed = await rows(lists.id);
      assert.equal(filed.length, 1);
      assert.equal(filed[0]!.flags & 4, 4, "\\Flagged set");
      const body = (await h!.runtime.blobs.read(filed[0]!.blob_key)).toString("utf8");
      assert.match(body, /^Subject: to the list$/m);
      assert.equal((await rows(bobInbox)).length, 0, "not in INBOX");
      // The client lost the 250 and sends the very same message again: the dedupe key holds.
      assert.match(await submit(h!.port, "alice@local.test", "bob@local.test", raw), /^250 /);
      assert.equal((await rows(lists.id)).length, 1, "no second copy");
      assert.equal((await rows(bobInbox)).length, 0);
      // The other order files the message unflagged: addflag after fileinto changes only later
      // actions (Pigeonhole's sieve-test on the same script: "store message in folder: Lists", no flags).
      await activate(
        'require ["fileinto","mailbox","imap4flags"];\nfileinto :create "Lists";\naddflag "\\\\Flagged";',
      );
      assert.match(
        await submit(h!.port, "alice@local.test", "bob@local.test", message("late flag", "list-2")),
        /^250 /,
      );
      const both = await rows(lists.id);
      assert.equal(both.length, 2);
      assert.equal(both[1]!.flags & 4, 0, "no \\Flagged");
    },
  );

  await t.test("vacation replies once after the commit, and not again for a duplicate", async () => {
    await activate('require "vacation";\nvacation :days 7 :subject "Away" "Back on Monday.";');
    const before = (await queued()).length;
    const raw = message("are you there", "vac-1");
    assert.match(await submit(h!.port, "alice@local.test", "bob@local.test", raw), /^250 /);
    assert.equal((await rows(bobInbox)).length, 1, "the implicit keep files it in INBOX");
    const added = (await queued()).slice(before);
    assert.equal(added.length, 1, "one vacation reply");
    assert.deepEqual([added[0]!.sender, added[0]!.recipients], ["", ["alice@local.test"]]);
    const reply = (await collect(await h!.runtime.blobs.get(added[0]!.blobKey!))).toString("utf8");
    assert.match(reply, /^Subject: Away$/m);
    assert.match(reply, /Back on Monday\./);
    // Clear the vacation memory so only the dedupe can stop a second reply.
    await store.pool.query("DELETE FROM sieve_vacation_sent");
    assert.match(await submit(h!.port, "alice@local.test", "bob@local.test", raw), /^250 /);
    assert.equal((await queued()).length, before + 1, "no reply for the duplicate");
    assert.equal((await rows(bobInbox)).length, 1);
  });

  await t.test("reject: 250 to the submitting client, nothing stored, a notice to the sender", async () => {
    await activate(
      'require "reject";\nif header :contains "subject" "offer" { reject "No offers, thanks."; }',
    );
    const before = (await queued()).length;
    const n = (await rows(bobInbox)).length;
    assert.match(
      await submit(h!.port, "alice@local.test", "bob@local.test", message("special offer", "rej-1")),
      /^250 /,
    );
    assert.equal((await rows(bobInbox)).length, n, "bob's script rejected it");
    const added = (await queued()).slice(before);
    assert.equal(added.length, 1);
    assert.deepEqual([added[0]!.sender, added[0]!.recipients], ["", ["alice@local.test"]]);
    const notice = (await collect(await h!.runtime.blobs.get(added[0]!.blobKey!))).toString("utf8");
    assert.match(notice, /No offers, thanks\./);
  });
});
