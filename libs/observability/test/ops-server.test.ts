/** The ops endpoint over a real HTTP socket: metrics parse, readiness follows the probes and drain. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Counter, createRegistry, OpsServer } from "../src/index.ts";

test("/metrics, /healthz and /readyz", async () => {
  const registry = createRegistry("test");
  const logins = new Counter({
    name: "aerogram_test_logins_total",
    help: "logins",
    labelNames: ["result"],
    registers: [registry],
  });
  logins.inc({ result: "ok" }, 3);
  let pgUp = true;
  const ops = new OpsServer({
    registry,
    probeTimeoutMs: 200,
    checks: [
      {
        name: "postgres",
        probe: async () => {
          if (!pgUp) throw new Error("down");
        },
      },
      { name: "slow", probe: () => new Promise((r) => setTimeout(r, 10)) },
    ],
  });
  const { port } = await ops.listen(0, "127.0.0.1");
  const base = `http://127.0.0.1:${port}`;
  try {
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /^aerogram_test_logins_total\{result="ok",service="test"\} 3$/m);
    assert.match(text, /^# TYPE aerogram_process_cpu_seconds_total counter$/m);

    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    let ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);

    pgUp = false;
    ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { checks: { name: string; ok: boolean }[] };
    assert.deepEqual(
      body.checks.map((c) => [c.name, c.ok]),
      [
        ["postgres", false],
        ["slow", true],
      ],
    );

    pgUp = true;
    ops.setDraining();
    ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503, "readiness flips first when draining");
    assert.equal(((await ready.json()) as { status: string }).status, "draining");
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    await ops.close();
  }
});

test("a probe that never answers fails readiness within its time limit", async () => {
  const ops = new OpsServer({
    registry: createRegistry("test"),
    probeTimeoutMs: 100,
    checks: [{ name: "hung", probe: () => new Promise(() => {}) }],
  });
  const results = await ops.runChecks();
  assert.equal(results[0]!.ok, false);
  assert.match(results[0]!.error!, /no answer within 100 ms/);
});
