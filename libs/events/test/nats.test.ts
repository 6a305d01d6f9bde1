import assert from "node:assert/strict";
import { test } from "node:test";
import { requireServer, TEST_NATS_URL, uniqueId } from "@aerogram/testkit";
import { connect } from "@nats-io/transport-node";
import { accountSubject, createEventBus, NatsEventBus } from "../src/index.ts";
import { eventBusContract } from "./contract.ts";
import { event, freshAccount, record, SETTLE_MS, sleep } from "./support.ts";

// One prefix per test file: files run in parallel against the same server.
const subjectPrefix = `t.${uniqueId()}`;
const open = () => NatsEventBus.connect({ url: TEST_NATS_URL, subjectPrefix, firstConnectWaitMs: 5000 });

test("NatsEventBus", async (t) => {
  if (!(await requireServer(t, "nats"))) return;

  await eventBusContract(t, open);

  await t.test("fans an event out to every connection subscribed to the account", async (t) => {
    const [publisher, replicaA, replicaB] = await Promise.all([open(), open(), open()]);
    t.after(() => Promise.all([publisher.close(), replicaA.close(), replicaB.close()]));
    const account = freshAccount();
    const gotA = record(replicaA, account);
    const gotB = record(replicaB, account);
    await Promise.all([replicaA.ping(), replicaB.ping()]); // subscriptions are on the server
    const sent = event(account, { kind: "flags", uids: [5] });
    publisher.publish(sent);
    await gotA.waitFor(1);
    await gotB.waitFor(1);
    assert.deepEqual(gotA.events, [sent]);
    assert.deepEqual(gotB.events, [sent]);
    assert.equal(publisher.stats.published, 1);
  });

  await t.test("publishes compact JSON on <prefix>.mbx.<account>", async (t) => {
    const bus = await open();
    const raw = await connect({ servers: TEST_NATS_URL });
    t.after(() => Promise.all([bus.close(), raw.close()]));
    const account = freshAccount();
    const payloads: string[] = [];
    raw.subscribe(`${subjectPrefix}.mbx.${account}`, {
      callback: (_, msg) => void payloads.push(msg.string()),
    });
    await raw.flush();
    const sent = event(account);
    bus.publish(sent);
    await bus.ping();
    const deadline = Date.now() + 5000;
    while (payloads.length === 0 && Date.now() < deadline) await sleep(5);
    assert.deepEqual(payloads, [JSON.stringify(sent)]);
    assert.equal(accountSubject(subjectPrefix, account), `${subjectPrefix}.mbx.${account}`);
  });

  await t.test("ignores malformed payloads on an account's subject", async (t) => {
    const bus = await open();
    const raw = await connect({ servers: TEST_NATS_URL });
    t.after(() => Promise.all([bus.close(), raw.close()]));
    const account = freshAccount();
    const got = record(bus, account);
    await bus.ping();
    const subject = accountSubject(subjectPrefix, account);
    raw.publish(subject, "not json at all");
    raw.publish(subject, JSON.stringify({ account, kind: "exists" }));
    raw.publish(subject, new Uint8Array([0xc3, 0x28]));
    // A valid event for another account on this account's subject is not trusted either.
    raw.publish(subject, JSON.stringify(event(account + 1)));
    raw.publish(subject, JSON.stringify(event(account, { modseq: "7" })));
    await got.waitFor(1);
    await sleep(SETTLE_MS);
    assert.deepEqual(
      got.events.map((e) => e.modseq),
      ["7"],
    );
    assert.equal(bus.stats.malformed, 4);
    assert.equal(bus.stats.received, 1);
  });

  await t.test("createEventBus connects to NATS for the nats configuration", async () => {
    const bus = await createEventBus({ kind: "nats", url: TEST_NATS_URL, subjectPrefix });
    assert.ok(bus instanceof NatsEventBus);
    assert.equal(bus.state, "connected");
    const account = freshAccount();
    const got = record(bus, account);
    await bus.ping();
    bus.publish(event(account));
    await got.waitFor(1);
    await bus.close();
    assert.equal(bus.state, "disconnected");
  });

  await t.test("rejects a subject prefix with wildcards or empty tokens", () => {
    for (const bad of ["a.*", "a.>", "", "a..b", "a b"]) {
      assert.throws(() => new NatsEventBus({ url: TEST_NATS_URL, subjectPrefix: bad }), TypeError, bad);
    }
  });
});
