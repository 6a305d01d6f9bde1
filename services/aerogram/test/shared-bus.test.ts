/**
 * The cluster's shared in-process bus (src/cluster/shared-bus.ts), wired in one
 * process: a HubEventBus with two WorkerEventBus instances whose IPC channels
 * are plain functions. What it pins down: an event reaches every handler of
 * its account once, the publisher's at once, and the primary forwards it only
 * to the other workers watching that account (cluster.test.ts covers the same
 * over real workers and sockets: IDLE on both wakes for one delivery).
 */
import assert from "node:assert/strict";
import type { Worker } from "node:cluster";
import test from "node:test";
import type { MailboxEvent } from "@aerogram/events";
import type { ToPrimary, ToWorker } from "../src/cluster/messages.ts";
import { HubEventBus, WorkerEventBus } from "../src/cluster/shared-bus.ts";

function cluster() {
  const forwarded: Array<{ to: number; event: MailboxEvent }> = [];
  const buses = new Map<number, WorkerEventBus>();
  const fakes = [1, 2].map(
    (id) =>
      ({
        id,
        isConnected: () => true,
        send: (message: ToWorker) => {
          if (message.ag !== "event") return false;
          forwarded.push({ to: id, event: message.event });
          buses.get(id)!.deliver(message.event);
          return true;
        },
      }) as unknown as Worker,
  );
  const hub = new HubEventBus(() => fakes);
  for (const id of [1, 2]) {
    buses.set(
      id,
      new WorkerEventBus(undefined, (message: ToPrimary) => {
        if (message.ag === "event") hub.publish(message.event, id);
        if (message.ag === "watch") hub.watch(id, message.account, message.watching);
      }),
    );
  }
  return { hub, forwarded, w1: buses.get(1)!, w2: buses.get(2)! };
}

const event = (account: number, modseq: number): MailboxEvent => ({
  account,
  mailbox: account * 10,
  kind: "exists",
  modseq: String(modseq),
  uids: [modseq],
});

/** Lets the memory buses' asynchronous dispatch run. */
const settle = () => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

test("an event reaches each handler of its account once, and only workers watching it", async () => {
  const { hub, forwarded, w1, w2 } = cluster();
  const seen: string[] = [];
  const a1 = w1.subscribe(7, (e) => seen.push(`w1:${e.account}:${e.modseq}`));
  const a2 = w2.subscribe(7, (e) => seen.push(`w2:${e.account}:${e.modseq}`));
  w2.subscribe(8, (e) => seen.push(`w2:${e.account}:${e.modseq}`));

  w1.publish(event(7, 1));
  await settle();
  assert.deepEqual(
    seen.sort(),
    ["w1:7:1", "w2:7:1"],
    "publisher's own handler and the other worker's, once each",
  );
  assert.deepEqual(
    forwarded.map((f) => f.to),
    [2],
    "forwarded to the other watcher only, not echoed to the publisher",
  );

  seen.length = 0;
  forwarded.length = 0;
  w1.publish(event(8, 2));
  w1.publish(event(9, 3)); // nobody watches account 9
  await settle();
  assert.deepEqual(seen, ["w2:8:2"]);
  assert.deepEqual(
    forwarded.map((f) => `${f.to}:${f.event.account}`),
    ["2:8"],
  );

  // The last handler of account 7 on worker 2 goes: nothing more is forwarded there.
  seen.length = 0;
  forwarded.length = 0;
  a2.unsubscribe();
  a2.unsubscribe(); // twice is harmless
  w1.publish(event(7, 4));
  await settle();
  assert.deepEqual(seen, ["w1:7:4"]);
  assert.equal(forwarded.length, 0, "nothing forwarded");

  // A second handler keeps the account watched until both are gone.
  seen.length = 0;
  const b1 = w1.subscribe(7, (e) => seen.push(`w1b:${e.account}:${e.modseq}`));
  a1.unsubscribe();
  w2.publish(event(7, 5));
  await settle();
  assert.deepEqual(seen, ["w1b:7:5"]);
  assert.deepEqual(
    forwarded.map((f) => f.to),
    [1],
  );
  b1.unsubscribe();

  // Events the primary itself publishes go to the watching workers.
  forwarded.length = 0;
  hub.publish(event(8, 6));
  await settle();
  assert.deepEqual(
    forwarded.map((f) => f.to),
    [2],
  );

  // A worker that exited is forgotten: its replacement watches nothing until it subscribes.
  forwarded.length = 0;
  hub.workerGone(2);
  hub.publish(event(8, 7));
  await settle();
  assert.equal(forwarded.length, 0, "nothing forwarded");
});
