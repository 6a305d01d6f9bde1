/**
 * The behaviour every EventBus must have, run against each implementation so
 * the in-process twin stays true to NATS.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { MeteredEventBus } from "../src/index.ts";
import { event, freshAccount, record, SETTLE_MS, sleep } from "./support.ts";

export async function eventBusContract(
  t: TestContext,
  makeBus: () => Promise<MeteredEventBus>,
): Promise<void> {
  const open = async (t: TestContext) => {
    const bus = await makeBus();
    t.after(() => bus.close());
    return bus;
  };

  await t.test("is connected and answers ping", async (t) => {
    const bus = await open(t);
    assert.equal(bus.state, "connected");
    await bus.ping();
  });

  await t.test("delivers an account's events to its handler, as published", async (t) => {
    const bus = await open(t);
    const account = freshAccount();
    const got = record(bus, account);
    const sent = event(account, { kind: "mailbox-renamed", name: "Archive/2024", uids: [3, 4] });
    bus.publish(sent);
    await got.waitFor(1);
    assert.deepEqual(got.events, [sent]);
  });

  await t.test("never calls handlers inside publish()", async (t) => {
    const bus = await open(t);
    const account = freshAccount();
    const got = record(bus, account);
    bus.publish(event(account));
    assert.equal(got.events.length, 0);
    await got.waitFor(1);
  });

  await t.test("does not deliver other accounts' events", async (t) => {
    const bus = await open(t);
    const mine = freshAccount();
    const theirs = freshAccount();
    const gotMine = record(bus, mine);
    const gotTheirs = record(bus, theirs);
    bus.publish(event(theirs, { modseq: "1" }));
    bus.publish(event(mine, { modseq: "2" }));
    await gotMine.waitFor(1);
    await gotTheirs.waitFor(1);
    await sleep(SETTLE_MS);
    assert.deepEqual(
      gotMine.events.map((e) => e.account),
      [mine],
    );
    assert.deepEqual(
      gotTheirs.events.map((e) => e.account),
      [theirs],
    );
  });

  await t.test("keeps one publisher's events in order", async (t) => {
    const bus = await open(t);
    const account = freshAccount();
    const got = record(bus, account);
    for (let i = 1; i <= 20; i++) bus.publish(event(account, { modseq: String(i) }));
    await got.waitFor(20);
    assert.deepEqual(
      got.events.map((e) => Number(e.modseq)),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  await t.test("unsubscribe stops delivery to that handler only", async (t) => {
    const bus = await open(t);
    const account = freshAccount();
    const leaving = record(bus, account);
    const staying = record(bus, account);
    leaving.subscription.unsubscribe();
    // Idempotent: a second call must not drop the other handler's reference.
    leaving.subscription.unsubscribe();
    bus.publish(event(account));
    await staying.waitFor(1);
    await sleep(SETTLE_MS);
    assert.equal(leaving.events.length, 0);
    assert.equal(staying.events.length, 1);
  });

  await t.test("local handlers of an account share one upstream subscription", async (t) => {
    const bus = await open(t);
    const account = freshAccount();
    const first = record(bus, account);
    const second = record(bus, account);
    assert.equal(bus.subscribedAccounts, 1);
    bus.publish(event(account));
    await first.waitFor(1);
    await second.waitFor(1);
    await sleep(SETTLE_MS);
    // One message in for both handlers: two upstream subscriptions would count two.
    assert.equal(bus.stats.received, 1);

    first.subscription.unsubscribe();
    assert.equal(bus.subscribedAccounts, 1);
    second.subscription.unsubscribe();
    assert.equal(bus.subscribedAccounts, 0);
    bus.publish(event(account));
    await sleep(SETTLE_MS);
    assert.equal(bus.stats.received, 1, "nothing arrives once the last handler left");

    // Subscribing again after the last one left works (a new upstream subscription).
    const again = record(bus, account);
    bus.publish(event(account));
    await again.waitFor(1);
  });

  await t.test("a throwing handler does not keep the others from their events", async (t) => {
    const bus = await open(t);
    const account = freshAccount();
    bus.subscribe(account, () => {
      throw new Error("handler bug");
    });
    const got = record(bus, account);
    bus.publish(event(account));
    await got.waitFor(1);
    assert.equal(bus.stats.handlerErrors, 1);
  });

  await t.test("publish drops invalid events instead of throwing", async (t) => {
    const bus = await open(t);
    const account = freshAccount();
    const got = record(bus, account);
    const invalid = [
      { ...event(account), modseq: 42 },
      { ...event(account), kind: "exploded" },
      { ...event(account), uids: [1, -2] },
      { ...event(account), account: 1.5 },
    ] as unknown as Parameters<typeof bus.publish>[0][];
    for (const e of invalid) bus.publish(e);
    assert.equal(bus.stats.dropped, invalid.length);
    bus.publish(event(account, { modseq: "99" }));
    await got.waitFor(1);
    await sleep(SETTLE_MS);
    assert.deepEqual(
      got.events.map((e) => e.modseq),
      ["99"],
    );
  });

  await t.test("subscribe rejects an account id that is not an integer id", async (t) => {
    const bus = await open(t);
    assert.throws(() => bus.subscribe(-1, () => {}), TypeError);
    assert.throws(() => bus.subscribe(Number.NaN, () => {}), TypeError);
  });

  await t.test("after close publish is a counted no-op and ping rejects", async () => {
    const bus = await makeBus();
    const account = freshAccount();
    const got = record(bus, account);
    await bus.close();
    await bus.close();
    bus.publish(event(account));
    assert.equal(bus.stats.dropped, 1);
    await assert.rejects(bus.ping());
    await sleep(SETTLE_MS);
    assert.equal(got.events.length, 0);
  });
}
