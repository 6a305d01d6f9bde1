/**
 * /metrics of a real runtime (Postgres, filesystem blobs, in-process bus),
 * scraped over HTTP and parsed: the platform metrics the dashboard and alerts
 * use are there and move when the platform is used.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "@aerogram/config";
import { OpsServer } from "@aerogram/observability";
import { createRuntime } from "@aerogram/runtime";
import { createTestDatabase, requireServer, tempDir } from "@aerogram/testkit";

/** Prometheus text format → series ("name{labels}") → value. */
function parseExposition(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    assert.ok(m, `a valid exposition line: ${line}`);
    series.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return series;
}

const sumOf = (series: Map<string, number>, name: string, labelFilter = "") =>
  [...series]
    .filter(([k]) => (k === name || k.startsWith(`${name}{`)) && k.includes(labelFilter))
    .reduce((total, [, v]) => total + v, 0);

test("platform metrics: event bus, Postgres and blob-store latency, scraped over HTTP", async (t) => {
  if (!(await requireServer(t, "postgres"))) return;
  const db = await createTestDatabase();
  const dir = await tempDir("aerogram-metrics-");
  const config = loadConfig({ DATABASE_URL: db.url, DATA_DIR: dir.path, LOG_LEVEL: "silent" });
  const runtime = await createRuntime(config, { service: "metrics-test" });
  const ops = new OpsServer({ registry: runtime.metrics, checks: runtime.readinessChecks });
  try {
    const { port } = await ops.listen(0, "127.0.0.1");
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      return parseExposition(await res.text());
    };
    const before = await scrape();
    assert.equal(sumOf(before, "aerogram_events_bus_connected"), 1);
    assert.ok(sumOf(before, "aerogram_process_resident_memory_bytes") > 0);

    const account = await runtime.store.accounts.create({ address: "m@example.org", password: "pw" });
    const got = runtime.events.subscribe(account.id, () => {});
    runtime.events.publish({ account: account.id, mailbox: 1, kind: "exists", modseq: "2" });
    const blob = await runtime.blobs.putBuffer(Buffer.from("Subject: hi\r\n\r\nbody\r\n"));
    assert.equal((await runtime.blobs.read(blob.key)).toString(), "Subject: hi\r\n\r\nbody\r\n");
    await assert.rejects(runtime.store.pool.query("SELECT * FROM no_such_table"));
    await new Promise((r) => setTimeout(r, 20));
    got.unsubscribe();

    const after = await scrape();
    assert.equal(sumOf(after, "aerogram_events_published_total"), 1);
    assert.equal(sumOf(after, "aerogram_events_received_total"), 1);
    assert.equal(sumOf(after, "aerogram_events_dropped_total"), 0);
    const queries = sumOf(after, "aerogram_pg_query_duration_seconds_count", 'result="ok"');
    assert.ok(
      queries > sumOf(before, "aerogram_pg_query_duration_seconds_count", 'result="ok"'),
      "queries timed",
    );
    assert.ok(
      sumOf(after, "aerogram_pg_query_duration_seconds_count", 'result="error"') >= 1,
      "errors timed",
    );
    assert.equal(
      sumOf(after, "aerogram_pg_query_duration_seconds_bucket", 'le="+Inf"'),
      sumOf(after, "aerogram_pg_query_duration_seconds_count"),
      "the +Inf bucket holds every query",
    );
    assert.equal(sumOf(after, "aerogram_blob_operation_duration_seconds_count", 'op="put"'), 1);
    assert.equal(sumOf(after, "aerogram_blob_operation_duration_seconds_count", 'op="read"'), 1);
  } finally {
    await ops.close();
    await runtime.close();
    await db.drop();
    await dir.remove();
  }
});
