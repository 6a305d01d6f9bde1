/**
 * Sieve at SMTP-in delivery, over real SMTP sockets on the testkit backend:
 * fileinto (:create) with imap4flags, subaddress on the original recipient,
 * discard, vacation replies queued in the outbound queue once per sender per
 * :days (and never to <> or lists), redirect through the outbound queue with
 * loop protection, and a broken script or a missing folder leaving the
 * message in INBOX.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { COMPILER_VERSION, compileScript } from "@aerogram/sieve";
import { requireServers } from "@aerogram/testkit";
import { collect, messageCount, openSession, startService, startSmtpBackend } from "./support.ts";

async function send(port: number, from: string, to: string, raw: string): Promise<string> {
  const s = await openSession(port);
  try {
    assert.match(await s.cmd(`MAIL FROM:<${from}>`), /^250/);
    assert.match(await s.cmd(`RCPT TO:<${to}>`), /^250/);
    assert.match(await s.cmd("DATA"), /^354/);
    return await s.cmd(`${raw}\r\n.`);
  } finally {
    s.close();
  }
}

const msg = (from: string, to: string, subject: string, extra: string[] = []) =>
  [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: ${subject}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@remote.test>`,
    ...extra,
    "",
    "Hello.",
  ].join("\r\n");

test("sieve at delivery", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats", "redis"]))) return;
  const backend = await startSmtpBackend();
  t.after(() => backend.stop());
  const runtime = await backend.runtime("smtp-in-sieve-test");
  t.after(() => runtime.close());
  const svc = await startService(runtime, { resolver: async () => Promise.reject(new Error("no dns")) });
  t.after(() => svc.stop());
  const store = runtime.store;
  const alice = await store.accounts.create({ address: "alice@example.com", password: "pw" });
  const inbox = (await store.mailboxes.byName(alice.id, "INBOX"))!.id;
  // Sub-addressing is the identity branch's (issue 23); until it lands, an alias stands for alice+news.
  await store.accounts.addAlias(alice.id, "alice+news@example.com");
  const activate = async (source: string) => {
    await store.sieve.put(alice.id, "main", source, compileScript(source), COMPILER_VERSION);
    assert.ok(await store.sieve.setActive(alice.id, "main"));
  };
  const latest = async (mailboxId: number) => {
    const { rows } = await store.pool.query<{ flags: number; keywords: string[]; blob_key: string }>(
      "SELECT flags, keywords, blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid DESC LIMIT 1",
      [mailboxId],
    );
    return rows[0];
  };
  const queued = async () => store.outbound.list({ limit: 100 });

  await t.test("fileinto :create with flags, by the sub-address of the original recipient", async () => {
    await activate(
      'require ["fileinto","mailbox","imap4flags","envelope","subaddress","variables"];\n' +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: ${…} is Sieve's variable syntax (RFC 5229)
        'if envelope :matches :detail "to" "*" {\n  addflag ["\\\\Flagged", "$Tagged"];\n  fileinto :create "Tags/${1}";\n}',
    );
    const reply = await send(
      svc.port,
      "bob@remote.test",
      "alice+News@example.com",
      msg("bob@remote.test", "alice+News@example.com", "hi"),
    );
    assert.match(reply, /^250 /);
    const box = await store.mailboxes.byName(alice.id, "Tags/news");
    assert.ok(box, "mailbox created by :create");
    const row = await latest(box.id);
    assert.ok(row);
    assert.equal(row.flags & 4, 4, "\\Flagged set");
    assert.deepEqual(row.keywords, ["$Tagged"]);
    assert.equal(await messageCount(runtime, inbox), 0);
  });

  await t.test(
    "fileinto a missing mailbox without :create, and a broken script, keep the message in INBOX",
    async () => {
      await activate('require "fileinto"; fileinto "Nowhere";');
      assert.match(
        await send(
          svc.port,
          "bob@remote.test",
          "alice@example.com",
          msg("bob@remote.test", "alice@example.com", "a"),
        ),
        /^250 /,
      );
      assert.equal(await messageCount(runtime, inbox), 1);
      assert.equal(await store.mailboxes.byName(alice.id, "Nowhere"), undefined);
      // A stored script whose compiled form is stale and whose source no longer compiles.
      await store.sieve.put(alice.id, "main", "this is not sieve", { version: -1 }, -1);
      assert.match(
        await send(
          svc.port,
          "bob@remote.test",
          "alice@example.com",
          msg("bob@remote.test", "alice@example.com", "b"),
        ),
        /^250 /,
      );
      assert.equal(await messageCount(runtime, inbox), 2);
    },
  );

  await t.test("discard stores nothing and still answers 250", async () => {
    await activate('if header :contains "subject" "junkmail" { discard; }');
    const n = await messageCount(runtime, inbox);
    assert.match(
      await send(
        svc.port,
        "bob@remote.test",
        "alice@example.com",
        msg("bob@remote.test", "alice@example.com", "junkmail!"),
      ),
      /^250 /,
    );
    assert.equal(await messageCount(runtime, inbox), n);
  });

  await t.test(
    "vacation: one reply per sender per :days, through the outbound queue; none to <> or lists",
    async () => {
      await activate(
        'require "vacation";\nvacation :days 7 :subject "Out of office" :from "ceo@bank.test" "I am away until Monday.";',
      );
      const before = (await queued()).length;
      for (let i = 0; i < 2; i++) {
        assert.match(
          await send(
            svc.port,
            "carol@remote.test",
            "alice@example.com",
            msg("Carol <carol@remote.test>", "alice@example.com", `q${i}`),
          ),
          /^250 /,
        );
      }
      assert.match(
        await send(
          svc.port,
          "dave@other.test",
          "alice@example.com",
          msg("dave@other.test", "Alice <alice@example.com>", "q"),
        ),
        /^250 /,
      );
      assert.match(
        await send(
          svc.port,
          "",
          "alice@example.com",
          msg("MAILER-DAEMON@remote.test", "alice@example.com", "bounce"),
        ),
        /^250 /,
      );
      assert.match(
        await send(
          svc.port,
          "list-bounces@lists.test",
          "alice@example.com",
          msg("x@lists.test", "alice@example.com", "list", ["List-Id: <l.lists.test>"]),
        ),
        /^250 /,
      );
      const rows = (await queued()).slice(before);
      assert.deepEqual(rows.map((r) => r.recipients[0]).sort(), ["carol@remote.test", "dave@other.test"]);
      for (const r of rows) assert.equal(r.sender, "", "vacation replies go from the null reverse-path");
      const reply = (await collect(await runtime.blobs.get(rows[0]!.blobKey!))).toString("utf8");
      assert.match(reply, /^Subject: Out of office$/m);
      assert.match(reply, /^Auto-Submitted: auto-replied/m);
      assert.match(reply, /^From: alice@example\.com$/m);
      assert.match(reply, /I am away until Monday\./);
      assert.equal((await messageCount(runtime, inbox)) > 0, true, "the original is kept");
    },
  );

  await t.test(
    "redirect goes through the outbound queue; a looping message is not redirected again",
    async () => {
      await activate('redirect "alice.elsewhere@remote.test";');
      const before = (await queued()).length;
      const n = await messageCount(runtime, inbox);
      assert.match(
        await send(
          svc.port,
          "erin@remote.test",
          "alice@example.com",
          msg("erin@remote.test", "alice@example.com", "fwd"),
        ),
        /^250 /,
      );
      const rows = (await queued()).slice(before);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.sender, "erin@remote.test", "the original envelope sender stays");
      assert.deepEqual(rows[0]!.recipients, ["alice.elsewhere@remote.test"]);
      const copy = (await collect(await runtime.blobs.get(rows[0]!.blobKey!))).toString("utf8");
      assert.match(copy, /^X-Aerogram-Sieve-Redirect: alice@example\.com\r\n/);
      assert.equal(await messageCount(runtime, inbox), n, "redirect cancels the implicit keep");
      // The same message coming back (it carries our mark): no second redirect.
      assert.match(
        await send(svc.port, "erin@remote.test", "alice@example.com", copy.replace(/\r\n$/, "")),
        /^250 /,
      );
      assert.equal((await queued()).length, before + 1);
    },
  );

  await t.test(
    "reject: refused at DATA when it is the only recipient; a notice when others accept",
    async () => {
      await activate(
        'require "reject";\nif header :contains "subject" "sales" { reject "I do not buy anything."; }',
      );
      const n = await messageCount(runtime, inbox);
      const reply = await send(
        svc.port,
        "g@remote.test",
        "alice@example.com",
        msg("g@remote.test", "alice@example.com", "sales pitch"),
      );
      assert.equal(reply, "550 5.7.1 I do not buy anything.");
      assert.equal(await messageCount(runtime, inbox), n);
      const bob = await store.accounts.create({ address: "bob@example.com", password: "pw" });
      const bobInbox = (await store.mailboxes.byName(bob.id, "INBOX"))!.id;
      const before = (await queued()).length;
      const s = await openSession(svc.port);
      assert.match(await s.cmd("MAIL FROM:<g@remote.test>"), /^250/);
      assert.match(await s.cmd("RCPT TO:<alice@example.com>"), /^250/);
      assert.match(await s.cmd("RCPT TO:<bob@example.com>"), /^250/);
      assert.match(await s.cmd("DATA"), /^354/);
      assert.match(
        await s.cmd(`${msg("g@remote.test", "alice@example.com, bob@example.com", "sales again")}\r\n.`),
        /^250 /,
      );
      s.close();
      assert.equal(await messageCount(runtime, inbox), n, "alice's script rejected it");
      assert.equal(await messageCount(runtime, bobInbox), 1, "bob got it");
      const rows = (await queued()).slice(before);
      assert.equal(rows.length, 1);
      assert.deepEqual([rows[0]!.sender, rows[0]!.recipients], ["", ["g@remote.test"]]);
      const notice = (await collect(await runtime.blobs.get(rows[0]!.blobKey!))).toString("utf8");
      assert.match(notice, /I do not buy anything\./);
    },
  );

  await t.test("redirect to the recipient's own address is refused", async () => {
    await activate('redirect "alice@example.com";');
    const before = (await queued()).length;
    assert.match(
      await send(
        svc.port,
        "f@remote.test",
        "alice@example.com",
        msg("f@remote.test", "alice@example.com", "self"),
      ),
      /^250 /,
    );
    assert.equal((await queued()).length, before);
  });
});
