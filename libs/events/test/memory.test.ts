import assert from "node:assert/strict";
import { test } from "node:test";
import { createEventBus, MemoryEventBus } from "../src/index.ts";
import { eventBusContract } from "./contract.ts";

test("MemoryEventBus", async (t) => {
  await eventBusContract(t, async () => new MemoryEventBus());

  await t.test("is always connected: onStateChange never fires", async () => {
    const bus = new MemoryEventBus();
    const states: string[] = [];
    bus.onStateChange((s) => states.push(s)).unsubscribe();
    bus.onStateChange((s) => states.push(s));
    await bus.close();
    assert.deepEqual(states, []);
  });

  await t.test("createEventBus builds it for the memory configuration", async () => {
    const errors: unknown[] = [];
    const bus = await createEventBus(
      { kind: "memory", subjectPrefix: "aerogram" },
      { onError: (e) => errors.push(e) },
    );
    assert.ok(bus instanceof MemoryEventBus);
    bus.subscribe(1, () => {
      throw new Error("reported");
    });
    bus.publish({ account: 1, mailbox: 1, kind: "flags", modseq: "5" });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, 1);
    await bus.close();
  });
});
