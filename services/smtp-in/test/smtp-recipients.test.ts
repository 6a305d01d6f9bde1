/**
 * Recipient resolution over SMTP (issue 23), real sockets and servers:
 * `user+news@domain` lands in user's INBOX with the envelope address (and its
 * detail) kept, a catch-all takes unknown users, an alias domain delivers to
 * the target domain's account, and a forwarding address queues the message
 * for its external targets in the outbound queue.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer } from "@aerogram/testkit";
import { type Harness, messageCount, openSession, readLatest, startHarness } from "./support.ts";

async function harness(t: import("node:test").TestContext): Promise<Harness | undefined> {
  for (const s of ["postgres", "nats", "redis"] as const) if (!(await requireServer(t, s))) return undefined;
  const h = await startHarness();
  t.after(() => h.close());
  return h;
}

async function send(port: number, to: string[], body: string): Promise<string[]> {
  const s = await openSession(port);
  const replies: string[] = [];
  assert.match(await s.cmd("MAIL FROM:<sender@remote.test>"), /^250/);
  for (const r of to) replies.push(await s.cmd(`RCPT TO:<${r}>`));
  if (replies.some((r) => r.startsWith("250"))) {
    assert.match(await s.cmd("DATA"), /^354/);
    replies.push(await s.cmd(`Subject: ${body}\r\nMessage-ID: <${body}@remote.test>\r\n\r\n${body}\r\n.`));
  }
  await s.cmd("QUIT");
  s.close();
  return replies;
}

test("user+news@domain lands in user's INBOX; the Received line keeps the envelope address", async (t) => {
  const h = await harness(t);
  if (!h) return;
  const user = await h.runtime.store.accounts.create({ address: "user@example.com", password: "pw" });
  const inbox = (await h.runtime.store.mailboxes.byName(user.id, "INBOX"))!.id;
  const replies = await send(h.port, ["user+news@example.com"], "subaddressed");
  assert.match(replies[0]!, /^250/);
  assert.match(replies[1]!, /^250 2\.0\.0 OK/);
  const latest = await readLatest(h.runtime, inbox);
  assert.match(latest.raw.toString(), /subaddressed/);
  assert.match(latest.raw.toString(), /for <user\+news@example\.com>/);
  // Unknown users of the domain are refused while there is no catch-all…
  assert.match((await send(h.port, ["nobody@example.com"], "x"))[0]!, /^550 5\.1\.1/);
  // …and delivered to it once there is one.
  await h.runtime.store.domains.update("example.com", { catchAll: "user@example.com" });
  const caught = await send(h.port, ["nobody@example.com"], "caught");
  assert.match(caught[1]!, /^250/);
  assert.match((await readLatest(h.runtime, inbox)).raw.toString(), /caught/);
  // An alias domain reaches the same account.
  await h.runtime.store.domains.add("example.net", { aliasOf: "example.com" });
  const aliased = await send(h.port, ["user+x@example.net"], "aliasdomain");
  assert.match(aliased[1]!, /^250/);
  assert.equal(await messageCount(h.runtime, inbox), 3);
});

test("a forwarding address queues the message for its external targets, local recipients still get theirs", async (t) => {
  const h = await harness(t);
  if (!h) return;
  const local = await h.runtime.store.accounts.create({ address: "keep@example.org", password: "pw" });
  const inbox = (await h.runtime.store.mailboxes.byName(local.id, "INBOX"))!.id;
  await h.runtime.store.domains.setForward("team@example.org", ["a@far.example", "b@other.example"]);
  const replies = await send(h.port, ["team@example.org", "keep@example.org"], "forwarded");
  assert.match(replies[2]!, /^250 2\.0\.0 OK/);
  assert.equal(await messageCount(h.runtime, inbox), 1);
  const queued = await h.runtime.store.outbound.list();
  const byDomain = Object.fromEntries(queued.map((q) => [q.domain, q.recipients]));
  assert.deepEqual(byDomain, { "far.example": ["a@far.example"], "other.example": ["b@other.example"] });
  assert.ok(queued.every((q) => q.sender === "sender@remote.test"));
});
