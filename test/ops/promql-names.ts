/**
 * Metric names in PromQL expressions, and the metric names the code registers.
 * Small on purpose: enough PromQL to find the series selectors (identifiers
 * that are not functions, keywords, label names or strings).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "offset",
  "bool",
  "inf",
  "nan",
]);

/** The metric names an expression selects (histogram suffixes kept as written). */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\[[^\]]*\]/g, "") // range selectors ([5m], [$__rate_interval])
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "") // label lists
    .replace(/\$\w+/g, "") // Grafana variables
    .replace(/(?<![A-Za-z0-9_:])\d[\d.]*(?:[eE][+-]?\d+)?/g, ""); // numbers (1e-9, 0.99)
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\(?))/g)) {
    const word = m[0];
    const callsFunction = m[1] === "(";
    if (callsFunction || KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

export type MetricType = "counter" | "gauge" | "histogram" | "summary";

function sourceFiles(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "test" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

/**
 * Metric definitions in the source: `name: "aerogram_..."` inside a
 * `new Counter|Gauge|Histogram|Summary({ ... })` (the type is the nearest
 * constructor before the name).
 */
export function registeredInSource(roots: string[]): Map<string, MetricType> {
  const found = new Map<string, MetricType>();
  for (const file of roots.flatMap((r) => sourceFiles(r, []))) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/name:\s*"(aerogram_[a-z0-9_]+)"/g)) {
      const before = text.slice(Math.max(0, (m.index ?? 0) - 400), m.index);
      // `new Counter({ name: … })`, or libs/observability's `sharedCounter(registry, { name: … })`.
      const ctor = [...before.matchAll(/(?:new\s+|\bshared)(Counter|Gauge|Histogram|Summary)\b/g)].pop();
      if (ctor?.[1]) found.set(m[1] as string, ctor[1].toLowerCase() as MetricType);
    }
  }
  return found;
}

/** The series names a metric exposes (a histogram's _bucket, _count, _sum). */
export function seriesNames(name: string, type: MetricType): string[] {
  if (type === "histogram") return [name, `${name}_bucket`, `${name}_count`, `${name}_sum`];
  if (type === "summary") return [name, `${name}_count`, `${name}_sum`];
  return [name];
}
