/**
 * Outages, against a private nats-server this file starts and kills (the
 * machine's shared server is never touched).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { uniqueId } from "@aerogram/testkit";
import { type BusState, NatsEventBus } from "../src/index.ts";
import { event, freePort, PrivateNatsServer, record, sleep, waitUntil } from "./support.ts";

const NATS_SERVER = "/usr/sbin/nats-server";
const subjectPrefix = `t.${uniqueId()}`;

function skipWithoutServerBinary(t: import("node:test").TestContext): boolean {
  if (existsSync(NATS_SERVER)) return false;
  if (process.env.CI === "true") throw new Error(`${NATS_SERVER} is required under CI=true`);
  t.skip(`${NATS_SERVER} is not installed`);
  return true;
}

test("NatsEventBus follows the server going away and coming back", async (t) => {
  if (skipWithoutServerBinary(t)) return;
  const server = new PrivateNatsServer(await freePort());
  await server.start();
  t.after(() => server.kill());
  const bus = await NatsEventBus.connect({ url: server.url, subjectPrefix });
  t.after(() => bus.close());
  assert.equal(bus.state, "connected");
  const states: BusState[] = [];
  bus.onStateChange((s) => states.push(s));
  const got = record(bus, 1);
  bus.publish(event(1, { modseq: "1" }));
  await got.waitFor(1);

  await server.kill();
  await waitUntil(() => bus.state === "disconnected", "state disconnected");
  assert.deepEqual(states, ["disconnected"]);
  await assert.rejects(bus.ping());
  // While down publishing is a counted drop, never an exception.
  for (const modseq of ["2", "3"]) bus.publish(event(1, { modseq }));
  assert.equal(bus.stats.dropped, 2);
  // A session that starts during the outage gets its subscription once NATS is back.
  const joinedDuringOutage = record(bus, 3);

  await server.start();
  await waitUntil(() => bus.state === "connected", "state connected again", 10_000);
  assert.deepEqual(states, ["disconnected", "connected"]);
  await bus.ping();
  bus.publish(event(1, { modseq: "6" }));
  // The subscription made before the outage was restored by the client.
  bus.publish(event(3, { modseq: "7" }));
  await joinedDuringOutage.waitFor(1);
  await got.waitFor(2);
  assert.deepEqual(
    got.events.map((e) => e.modseq),
    ["1", "6"],
  );
});

test("NatsEventBus started while NATS is down keeps trying and connects when it comes up", async (t) => {
  if (skipWithoutServerBinary(t)) return;
  const server = new PrivateNatsServer(await freePort());
  t.after(() => server.kill());
  const started = Date.now();
  const bus = await NatsEventBus.connect({ url: server.url, subjectPrefix, firstConnectWaitMs: 300 });
  t.after(() => bus.close());
  assert.ok(Date.now() - started < 3000, "connect() does not wait for NATS beyond firstConnectWaitMs");
  assert.equal(bus.state, "disconnected");
  await assert.rejects(bus.ping());
  bus.publish(event(2));
  assert.equal(bus.stats.dropped, 1, "no connection yet: the beacon is dropped");
  // Subscribing before the first connection works: it is made upstream once connected.
  const got = record(bus, 2);

  await sleep(700); // a few failed attempts first
  await server.start();
  await waitUntil(() => bus.state === "connected", "the first connection", 10_000);
  bus.publish(event(2, { modseq: "8" }));
  await got.waitFor(1);
  assert.deepEqual(
    got.events.map((e) => e.modseq),
    ["8"],
  );
});

test("NatsEventBus closed while NATS is down stops trying at once", async () => {
  const errors: unknown[] = [];
  const bus = new NatsEventBus({
    url: `nats://127.0.0.1:${await freePort()}`,
    subjectPrefix,
    onError: (e) => errors.push(e),
  });
  await waitUntil(() => errors.length >= 2, "two failed attempts");
  const started = Date.now();
  await bus.close();
  assert.ok(Date.now() - started < 1000, `close() took ${Date.now() - started} ms`);
  const attempts = errors.length;
  await sleep(1200);
  assert.equal(errors.length, attempts, "no attempts after close()");
});
