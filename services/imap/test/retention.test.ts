/**
 * Retention (issue 22) as an IMAP client sees it: the retention worker
 * expunges old Trash mail through the store's normal expunge path, so a
 * session idling in Trash gets its EXPUNGEs over the socket, and a session
 * selecting it later sees only what is left. Rules: the account's rule wins
 * over the domain's default (keyed by the domain name), which wins over the
 * global default; days = 0 keeps mail forever. A domain's own retention_days
 * (issue 23) is the default for its accounts' \Trash and \Junk, below any
 * rule and above the global default.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Delivery, RetentionWorker } from "@aerogram/delivery";
import { requireServer } from "@aerogram/testkit";
import { createAccount, gatewayPerFile, message, RawClient } from "./helpers.ts";

const fixture = gatewayPerFile();

async function trashWith(subjects: string[], ageDays: number[], mailbox = "Trash") {
  const { runtime } = fixture.gateway;
  const account = await createAccount(runtime);
  const trash = (await runtime.store.mailboxes.byName(account.id, mailbox))!;
  const delivery = new Delivery(runtime);
  for (const [i, s] of subjects.entries()) {
    const d = await delivery.deliver(Buffer.from(message(s)), [{ mailboxId: trash.id }]);
    // The date it was saved into Trash (what retention counts from), moved into the past.
    await runtime.store.pool.query(
      "UPDATE messages SET saved_date = now() - make_interval(days => $3) WHERE mailbox_id = $1 AND uid = $2",
      [trash.id, d.appended[0]!.uids[0], ageDays[i]],
    );
  }
  return { account, trash };
}

function worker(defaults: { mailbox: string; days: number }[], batch = 500) {
  const { runtime } = fixture.gateway;
  return new RetentionWorker(
    { store: runtime.store, events: runtime.events, limits: runtime.limits },
    { defaults, intervalMs: 3600_000, batch, mailboxesPerStep: 2 },
  );
}

test("an IMAP session idling in Trash sees retention's EXPUNGEs; recent mail stays", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { account, trash } = await trashWith(["old-1", "new", "old-2"], [40, 2, 31]);
  const client = await RawClient.connect(fixture.gateway.port);
  t.after(() => client.close());
  assert.match(await client.login(account.user, account.pass), /OK/);
  assert.match(await client.command("SELECT Trash"), /\* 3 EXISTS/);
  client.write("idle IDLE\r\n");
  await client.readUntil((s) => s.includes("+ idling"));
  client.take();

  // Batches of one message: the sweep takes several bounded steps.
  const expunged = await worker([{ mailbox: "\\Trash", days: 30 }], 1).sweep();
  assert.equal(expunged, 2);
  const pushed = await client.readUntil((s) => (s.match(/EXPUNGE/g) ?? []).length >= 2);
  // old-1 is message 1; after it goes, old-2 (was 3) is message 2.
  assert.match(pushed, /\* 1 EXPUNGE\r\n[\s\S]*\* 2 EXPUNGE\r\n/);
  client.write("DONE\r\n");
  assert.match(await client.response("idle"), /idle OK/);
  const left = await client.command("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
  assert.match(left, /Subject: new/);
  assert.doesNotMatch(left, /old-/);
  assert.equal((await fixture.gateway.runtime.store.mailboxes.byId(trash.id))?.messageCount, 1);
  // Nothing more to do: a second sweep expunges nothing.
  assert.equal(await worker([{ mailbox: "\\Trash", days: 30 }]).sweep(), 0);
});

test("account rule over domain default over global default; 0 keeps forever; one sweep at a time", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { store } = fixture.gateway.runtime;
  const a = await trashWith(["a"], [10]); // domain default 7 days: expunged
  const b = await trashWith(["b"], [10]); // account rule 0: kept
  const c = await trashWith(["c"], [10]); // account rule 20 days: kept
  const domain = a.account.user.split("@")[1]!;
  await store.retention.setRule({ domain, mailbox: "\\Trash", days: 7 });
  await store.retention.setRule({ accountId: b.account.id, mailbox: "\\Trash", days: 0 });
  await store.retention.setRule({ accountId: c.account.id, mailbox: "Trash", days: 20 });
  const w = worker([{ mailbox: "\\Trash", days: 365 }]);
  // Another replica holding the lease: this one does nothing.
  const held = await fixture.gateway.runtime.limits.acquire("lifecycle:retention", 60_000);
  assert.equal(await w.sweep(), undefined);
  await held!.release();
  await w.sweep();
  const counts = await Promise.all(
    [a, b, c].map(async (x) => (await store.mailboxes.byId(x.trash.id))?.messageCount),
  );
  assert.deepEqual(counts, [0, 1, 1]);
  assert.deepEqual(
    (await store.retention.listRules({ accountId: b.account.id })).map((r) => r.days),
    [0],
  );
  await store.retention.deleteRule({ domain, mailbox: "\\Trash" });
});

test("a domain's retention_days expunges its accounts' old Trash and Junk, below account rules", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const { store } = fixture.gateway.runtime;
  const a = await trashWith(["old-trash", "recent-trash"], [10, 1]);
  const junk = await trashWith(["old-junk"], [10], "Junk");
  const kept = await trashWith(["ruled"], [10]);
  const domain = a.account.user.split("@")[1]!;
  await store.retention.setRule({ accountId: kept.account.id, mailbox: "\\Trash", days: 0 });
  await store.domains.update(domain, { retentionDays: 5 });
  t.after(() => store.domains.update(domain, { retentionDays: null }));

  const client = await RawClient.connect(fixture.gateway.port);
  t.after(() => client.close());
  assert.match(await client.login(a.account.user, a.account.pass), /OK/);
  assert.match(await client.command("SELECT Trash"), /\* 2 EXISTS/);
  client.write("idle IDLE\r\n");
  await client.readUntil((s) => s.includes("+ idling"));
  client.take();
  // The global default (365 days) alone would keep everything.
  await worker([{ mailbox: "\\Trash", days: 365 }]).sweep();
  assert.match(await client.readUntil((s) => s.includes("EXPUNGE")), /\* 1 EXPUNGE\r\n/);
  client.write("DONE\r\n");
  assert.match(await client.response("idle"), /idle OK/);
  const left = await client.command("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
  assert.match(left, /Subject: recent-trash/);
  assert.doesNotMatch(left, /old-trash/);
  const counts = await Promise.all(
    [a, junk, kept].map(async (x) => (await store.mailboxes.byId(x.trash.id))?.messageCount),
  );
  assert.deepEqual(counts, [1, 0, 1]);
});
