import assert from "node:assert/strict";
import { test } from "node:test";
import { PeriodicTask } from "../src/periodic.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("PeriodicTask: runs at start, again after each run, never two at once; a failure doesn't stop it; stop waits", async () => {
  let runs = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let finished = 0;
  const task = new PeriodicTask(async () => {
    runs++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await sleep(30);
    inFlight--;
    finished++;
    if (runs === 2) throw new Error("a failed run");
  }, 5);
  task.start();
  while (runs < 4) await sleep(5);
  await task.stop();
  assert.equal(maxInFlight, 1, "runs never overlap");
  assert.equal(finished, runs, "stop waited for the run in flight");
  const after = runs;
  await sleep(60);
  assert.equal(runs, after, "no run after stop");
});
