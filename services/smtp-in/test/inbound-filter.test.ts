/**
 * Spam and DMARC verdicts at the end of DATA, over real SMTP sockets, against
 * a REAL rspamd started for this file (testkit startPrivateRspamd: its own
 * config, loopback ports) and DMARC records served by a test DNS resolver
 * (mailauth takes a custom resolver): GTUBE is refused with 550 5.7.1, a clean
 * message lands in INBOX with its X-Spam-* headers, a spam-scored one in
 * \Junk (or INBOX when the account asks), soft reject is 451 4.7.1, rspamd
 * down is "deliver unscanned" or 451 as configured, DMARC p=reject is refused,
 * p=quarantine goes to Junk, pct is honoured, and enforcement can be off.
 * A domain's spam_action (issue 23) is its accounts' default for a spam
 * verdict: inbox, or reject (550 at DATA); the account's own setting wins.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RspamdClient } from "@aerogram/spam";
import { freePort, GTUBE, requireServers, rspamdAvailable, startPrivateRspamd } from "@aerogram/testkit";
import type { DnsLookup } from "../src/dns-resolver.ts";
import type { InboundFilterOptions } from "../src/inbound-filter.ts";
import { messageCount, openSession, readLatest, startService, startSmtpBackend } from "./support.ts";

/** TXT records of the test zone; anything else does not exist. */
const ZONE: Record<string, string[]> = {
  "_dmarc.reject.test": ["v=DMARC1; p=reject"],
  "_dmarc.quarantine.test": ["v=DMARC1; p=quarantine"],
  "_dmarc.sampled.test": ["v=DMARC1; p=reject; pct=0"],
  "reject.test": ["v=spf1 -all"],
  "quarantine.test": ["v=spf1 -all"],
  "sampled.test": ["v=spf1 -all"],
};

const resolver: DnsLookup = async (name, rrtype) => {
  const txt = ZONE[name.toLowerCase()];
  if (rrtype === "TXT" && txt) return txt.map((t) => [t]);
  const err = new Error(`${rrtype} ${name}: not found`) as Error & { code: string };
  err.code = "ENOTFOUND";
  throw err;
};

function message(from: string, subject: string, body = "Hello, this is an ordinary message.") {
  return [
    `From: Someone <${from}>`,
    "To: alice@example.com",
    `Subject: ${subject}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@remote.test>`,
    "Date: Mon, 07 Dec 2026 10:00:00 +0000",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    body,
    "",
  ].join("\r\n");
}

async function send(port: number, from: string, raw: string, rcpt = "alice@example.com"): Promise<string> {
  const s = await openSession(port);
  try {
    assert.match(await s.cmd(`MAIL FROM:<${from}>`), /^250/);
    assert.match(await s.cmd(`RCPT TO:<${rcpt}>`), /^250/);
    assert.match(await s.cmd("DATA"), /^354/);
    return await s.cmd(`${raw.replace(/\r\n\./g, "\r\n..")}\r\n.`);
  } finally {
    s.close();
  }
}

test("inbound filter: rspamd verdicts and DMARC enforcement at the end of DATA", async (t) => {
  if (!(await requireServers(t, ["postgres", "nats", "redis"]))) return;
  const missing = rspamdAvailable();
  if (missing) {
    if (process.env.CI === "true") assert.fail(missing);
    t.skip(missing);
    return;
  }
  const rspamd = await startPrivateRspamd();
  t.after(() => rspamd.stop());
  const backend = await startSmtpBackend();
  t.after(() => backend.stop());
  const runtime = await backend.runtime("smtp-in-filter-test");
  t.after(() => runtime.close());
  const store = runtime.store;
  const alice = await store.accounts.create({ address: "alice@example.com", password: "pw" });
  const inbox = (await store.mailboxes.byName(alice.id, "INBOX"))!.id;
  const junk = (await store.mailboxes.byName(alice.id, "Junk"))!.id;

  const filter = (over: Partial<InboundFilterOptions> = {}): InboundFilterOptions => ({
    rspamd: new RspamdClient({ url: rspamd.url, timeoutMs: 30_000 }),
    unavailable: "deliver",
    maxScanBytes: 1024 * 1024,
    dmarcEnforce: true,
    ...over,
  });
  const svc = await startService(runtime, { resolver, filter: filter() });
  t.after(() => svc.stop());

  await t.test("GTUBE is refused with 550 5.7.1 and nothing is stored", async () => {
    const before = (await messageCount(runtime, inbox)) + (await messageCount(runtime, junk));
    const reply = await send(svc.port, "sender@remote.test", message("sender@remote.test", "test", GTUBE));
    assert.match(reply, /^550 5\.7\.1 /);
    assert.equal((await messageCount(runtime, inbox)) + (await messageCount(runtime, junk)), before);
  });

  await t.test("a clean message lands in INBOX with its verdict headers", async () => {
    const reply = await send(svc.port, "sender@remote.test", message("sender@remote.test", "lunch"));
    assert.match(reply, /^250 /);
    const { raw } = await readLatest(runtime, inbox);
    const head = raw.toString("latin1").split("\r\n\r\n")[0]!;
    assert.match(head, /^X-Spam-Flag: NO$/m);
    assert.match(head, /^X-Spam-Action: no action$/m);
    assert.match(head, /^X-Spam-Status: No, score=-?\d+\.\d\d required=150\.00/m);
    assert.match(head, /^Subject: lunch$/m);
  });

  await t.test("a spam-scored message goes to \\Junk with X-Spam-Flag: YES", async () => {
    const n = await messageCount(runtime, junk);
    const reply = await send(
      svc.port,
      "sender@remote.test",
      message("sender@remote.test", "buy [spam-test] now"),
    );
    assert.match(reply, /^250 /);
    assert.equal(await messageCount(runtime, junk), n + 1);
    const head = (await readLatest(runtime, junk)).raw.toString("latin1").split("\r\n\r\n")[0]!;
    assert.match(head, /^X-Spam-Flag: YES$/m);
    assert.match(head, /^X-Spam-Action: add header$/m);
    assert.match(head, /AEROGRAM_TEST_SPAM/);
  });

  await t.test("the account's spam-to-INBOX setting keeps spam in INBOX", async () => {
    await store.filtering.setSpamToInbox(alice.id, true);
    try {
      const n = await messageCount(runtime, inbox);
      assert.match(await send(svc.port, "s@remote.test", message("s@remote.test", "[spam-test] 2")), /^250 /);
      assert.equal(await messageCount(runtime, inbox), n + 1);
      assert.match((await readLatest(runtime, inbox)).raw.toString("latin1"), /^X-Spam-Flag: YES$/m);
    } finally {
      await store.filtering.setSpamToInbox(alice.id, false);
    }
  });

  await t.test(
    "the domain's spam_action: inbox files spam in INBOX, reject is 550; the account's setting wins",
    async () => {
      const bob = await store.accounts.create({ address: "bob@spam-defaults.test", password: "pw" });
      const bobInbox = (await store.mailboxes.byName(bob.id, "INBOX"))!.id;
      const bobJunk = (await store.mailboxes.byName(bob.id, "Junk"))!.id;
      const spam = (subject: string) =>
        send(svc.port, "s@remote.test", message("s@remote.test", subject), "bob@spam-defaults.test");
      await store.domains.update("spam-defaults.test", { spamAction: "inbox" });
      assert.match(await spam("[spam-test] domain inbox"), /^250 /);
      assert.equal(await messageCount(runtime, bobInbox), 1);
      assert.equal(await messageCount(runtime, bobJunk), 0);
      assert.match((await readLatest(runtime, bobInbox)).raw.toString("latin1"), /^X-Spam-Flag: YES$/m);

      await store.domains.update("spam-defaults.test", { spamAction: "reject" });
      assert.match(await spam("[spam-test] domain reject"), /^550 5\.7\.1 /);
      // A clean message is not affected by the domain's spam action.
      assert.match(
        await send(svc.port, "s@remote.test", message("s@remote.test", "hi"), "bob@spam-defaults.test"),
        /^250 /,
      );
      assert.equal(await messageCount(runtime, bobInbox), 2);
      assert.equal(await messageCount(runtime, bobJunk), 0);

      // The account's explicit choice (here: Junk) wins over the domain's reject.
      await store.filtering.setSpamToInbox(bob.id, false);
      assert.match(await spam("[spam-test] account junk"), /^250 /);
      assert.equal(await messageCount(runtime, bobJunk), 1);
    },
  );

  await t.test("a deleted Junk is created again on demand, as \\Junk", async () => {
    await store.mailboxes.delete(junk);
    assert.match(await send(svc.port, "s@remote.test", message("s@remote.test", "[spam-test] 3")), /^250 /);
    const again = await store.mailboxes.byName(alice.id, "Junk");
    assert.ok(again && again.id !== junk);
    assert.equal(again.specialUse, "\\Junk");
    assert.equal(await messageCount(runtime, again.id), 1);
  });

  await t.test("soft reject is 451 4.7.1", async () => {
    const reply = await send(svc.port, "s@remote.test", message("s@remote.test", "[softreject-test]"));
    assert.match(reply, /^451 4\.7\.1 /);
  });

  await t.test("rspamd unreachable: delivered unscanned with a header, or 451 when configured", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const deliver = await startService(runtime, {
      resolver,
      filter: filter({ rspamd: new RspamdClient({ url: dead, timeoutMs: 2000 }) }),
    });
    t.after(() => deliver.stop());
    const n = await messageCount(runtime, inbox);
    assert.match(await send(deliver.port, "s@remote.test", message("s@remote.test", "unscanned")), /^250 /);
    assert.equal(await messageCount(runtime, inbox), n + 1);
    assert.match(
      (await readLatest(runtime, inbox)).raw.toString("latin1"),
      /^X-Spam-Status: Unknown, unscanned \(scanner unreachable\)/m,
    );
    const tempfail = await startService(runtime, {
      resolver,
      filter: filter({ rspamd: new RspamdClient({ url: dead, timeoutMs: 2000 }), unavailable: "tempfail" }),
    });
    t.after(() => tempfail.stop());
    assert.match(await send(tempfail.port, "s@remote.test", message("s@remote.test", "x")), /^451 4\.3\.0 /);
    assert.equal(await messageCount(runtime, inbox), n + 1);
  });

  await t.test("DMARC p=reject failure is refused at DATA with 550 5.7.1", async () => {
    const n = await messageCount(runtime, inbox);
    const reply = await send(svc.port, "bounce@reject.test", message("ceo@reject.test", "wire money"));
    assert.match(reply, /^550 5\.7\.1 .*DMARC/);
    assert.equal(await messageCount(runtime, inbox), n);
  });

  await t.test("DMARC p=quarantine goes to Junk; pct=0 softens reject to quarantine", async () => {
    const junkNow = (await store.mailboxes.byName(alice.id, "Junk"))!.id;
    const n = await messageCount(runtime, junkNow);
    assert.match(await send(svc.port, "b@quarantine.test", message("x@quarantine.test", "q")), /^250 /);
    assert.match(await send(svc.port, "b@sampled.test", message("x@sampled.test", "pct")), /^250 /);
    assert.equal(await messageCount(runtime, junkNow), n + 2);
    const head = (await readLatest(runtime, junkNow)).raw.toString("latin1");
    assert.match(head, /dmarc=fail/);
  });

  await t.test("DMARC enforcement off: the failing message is delivered to INBOX", async () => {
    const off = await startService(runtime, { resolver, filter: filter({ dmarcEnforce: false }) });
    t.after(() => off.stop());
    const n = await messageCount(runtime, inbox);
    assert.match(await send(off.port, "b@reject.test", message("ceo@reject.test", "allowed")), /^250 /);
    assert.equal(await messageCount(runtime, inbox), n + 1);
  });

  await t.test("ARC verdict is recorded in Authentication-Results", async () => {
    const { raw } = await readLatest(runtime, inbox);
    assert.match(raw.toString("latin1"), /arc=none/);
  });
});
