/**
 * A screenshot-free check of the Grafana dashboard and the alert rules: every
 * metric their PromQL names must be one the code registers (a
 * `name: "aerogram_..."` definition in libs/ or services/, or a default
 * process/Node.js metric of a live registry), one from outside Aerogram
 * (Prometheus, kube-state-metrics), or one listed below as expected from a
 * service still being built.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { createRegistry } from "@aerogram/observability";
import { parse as parseYaml } from "yaml";
import { type MetricType, metricNamesIn, registeredInSource, seriesNames } from "./promql-names.ts";

const REPO = resolve(import.meta.dirname, "../..");

/**
 * Metrics the dashboard uses that the gateways (services/smtp-in, imap, pop3,
 * built in parallel) define but may not have committed yet. Remove a name once
 * its service is in: the test prints which ones it already finds in the code.
 */
const EXPECTED_FROM_SERVICES: Record<string, MetricType> = {
  aerogram_sessions: "gauge", // libs/observability sessionsGauge: protocol="smtp"|"imap"|"pop3"
  aerogram_imap_commands_total: "counter",
  aerogram_imap_command_duration_seconds: "histogram",
  aerogram_pop3_commands_total: "counter",
  aerogram_pop3_command_duration_seconds: "histogram",
  aerogram_pop3_bytes_sent_total: "counter",
  aerogram_smtp_connections_total: "counter",
  aerogram_smtp_transactions_total: "counter",
  aerogram_smtp_recipients_total: "counter",
  aerogram_smtp_received_bytes_total: "counter",
  aerogram_smtp_delivery_duration_seconds: "histogram",
};

/** Not exported by Aerogram: Prometheus' own and kube-state-metrics series. */
const EXTERNAL = new Set(["up", "kube_deployment_status_replicas", "kube_deployment_status_replicas_ready"]);

async function defaultMetrics(): Promise<Map<string, MetricType>> {
  const registry = createRegistry("dashboard-test");
  const out = new Map<string, MetricType>();
  for (const m of await registry.getMetricsAsJSON()) out.set(m.name, String(m.type) as MetricType);
  return out;
}

function dashboardExpressions(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(
    readFileSync(resolve(REPO, "deploy/grafana/aerogram-dashboard.json"), "utf8"),
  ) as {
    panels: { title: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; definition?: string }[] };
  };
  const exprs = dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
  );
  for (const v of dashboard.templating.list) {
    const m = v.definition?.match(/^label_values\((\w+),/);
    if (m?.[1]) exprs.push({ where: `variable ${v.name}`, expr: m[1] });
  }
  return exprs;
}

function alertExpressions(): { where: string; expr: string }[] {
  const rules = parseYaml(readFileSync(resolve(REPO, "deploy/prometheus/aerogram-alerts.yaml"), "utf8")) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  return rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })));
}

test("PromQL parsing finds the series selectors and nothing else", () => {
  assert.deepEqual(
    metricNamesIn(
      'histogram_quantile(0.99, sum by (le, op) (rate(aerogram_x_bucket{op=~"put|get", pod=~"$pod"}[$__rate_interval]))) > 2',
    ),
    ["aerogram_x_bucket"],
  );
  assert.deepEqual(
    metricNamesIn(
      "sum(rate(a_total[5m])) / clamp_min(sum(rate(b_total[5m])), 1e-9) > 0.1 and on (pod) c == 1",
    ),
    ["a_total", "b_total", "c"],
  );
});

test("every metric in the dashboard and the alert rules is exported by the code", async () => {
  const registered = new Map([
    ...registeredInSource([resolve(REPO, "libs"), resolve(REPO, "services")]),
    ...(await defaultMetrics()),
  ]);
  const known = new Set<string>();
  for (const [name, type] of registered) for (const s of seriesNames(name, type)) known.add(s);
  const expected = new Set<string>();
  for (const [name, type] of Object.entries(EXPECTED_FROM_SERVICES))
    for (const s of seriesNames(name, type)) expected.add(s);

  const exprs = [...dashboardExpressions(), ...alertExpressions()];
  assert.ok(exprs.length > 40, `found ${exprs.length} expressions`);
  const unknown: string[] = [];
  const used = new Set<string>();
  for (const { where, expr } of exprs) {
    const names = metricNamesIn(expr);
    assert.ok(names.length > 0, `${where}: no metric in ${expr}`);
    for (const n of names) {
      used.add(n);
      if (!known.has(n) && !expected.has(n) && !EXTERNAL.has(n)) unknown.push(`${where}: ${n}`);
    }
  }
  assert.deepEqual(unknown, [], "metrics named in PromQL but exported by nothing");

  // Platform metrics this work added must be registered by the code, not only expected.
  for (const n of [
    "aerogram_events_bus_connected",
    "aerogram_events_published_total",
    "aerogram_pg_query_duration_seconds_bucket",
    "aerogram_blob_operation_duration_seconds_bucket",
    "aerogram_auth_attempts_total",
    "aerogram_process_resident_memory_bytes",
  ]) {
    assert.ok(known.has(n), `${n} is registered by the code`);
  }
  // Keep the allow-list honest: each entry is used, and report the ones already in the code.
  for (const name of Object.keys(EXPECTED_FROM_SERVICES)) {
    const series = seriesNames(name, EXPECTED_FROM_SERVICES[name] as MetricType);
    assert.ok(
      series.some((s) => used.has(s)),
      `${name} is allow-listed but not used`,
    );
  }
  const alreadyExported = Object.keys(EXPECTED_FROM_SERVICES).filter((n) => registered.has(n));
  const stillExpected = Object.keys(EXPECTED_FROM_SERVICES).filter((n) => !registered.has(n));
  console.log(`expected-from-services already in the code: ${alreadyExported.join(", ") || "none"}`);
  console.log(`expected-from-services not yet in the code: ${stillExpected.join(", ") || "none"}`);
});

test("an allow-listed name the code exports must be exported with the type the dashboard assumes", () => {
  const registered = registeredInSource([resolve(REPO, "libs"), resolve(REPO, "services")]);
  for (const [name, type] of Object.entries(EXPECTED_FROM_SERVICES)) {
    const actual = registered.get(name);
    if (actual) assert.equal(actual, type, name);
  }
});
