/**
 * Every IMAP bench in its smoke mode (tiny N, seconds, no Dovecot; libs/testkit
 * bench.ts), so a change that breaks a bench fails `npm test`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireServers, runBenchSmoke } from "@aerogram/testkit";

const bench = (name: string) => fileURLToPath(new URL(`../bench/${name}`, import.meta.url));

test("bench/imap-bench.ts (imaptest stress) runs in smoke mode", { timeout: 180_000 }, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(bench("imap-bench.ts"));
  assert.equal(run.code, 0, run.output);
  // imaptest is built outside the repo: with it the stress table, without it the raw-client check.
  assert.match(
    run.output,
    /^aerogram +login\/s +[\d.]+ +FETCH\/s +[\d.]+ +APPEND\/s +[\d.]+ +errors 0$|smoke mode checked LOGIN, SELECT and APPEND/m,
  );
});

test("bench/idle-sessions.ts holds 40 idle sessions on one account (past the default limit of 20), all hibernated", {
  timeout: 180_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(bench("idle-sessions.ts"));
  assert.equal(run.code, 0, run.output);
  assert.match(
    run.output,
    /^ +40 idle sessions: rss \+-?[\d.]+ KB\/session, pss \+-?[\d.]+ KB\/session, heap \+-?[\d.]+ KB\/session.*; 40 hibernated;/m,
  );
  assert.match(run.output, /^\| aerogram \(hibernated\) \| 40 \| /m);
});

test("bench/fanout-bench.ts (two gateways, SMTP, NATS killed and restarted) runs in smoke mode", {
  timeout: 240_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres", "redis"]))) return;
  const run = await runBenchSmoke(bench("fanout-bench.ts"), { timeoutMs: 230_000 });
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /^setup: 20 sessions idling \(0 failed\)/m);
  assert.match(run.output, /^steady +p50 [\d.]+ ms +p99 [\d.]+ ms/m);
  assert.match(run.output, /^missed +\d+ of \d+ idler-deliveries never seen/m);
});

test("bench/binary-fetch-bench.ts runs in smoke mode and times Aerogram's FETCH BINARY", {
  timeout: 180_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(bench("binary-fetch-bench.ts"), { args: ["--smoke"] });
  assert.equal(run.code, 0, run.output);
  // wall ms, server CPU ms and server peak RSS (min / median / max) for Aerogram.
  assert.match(
    run.output,
    /^\| aerogram \| [1-9]\d* \/ \d+ \/ \d+ \| \d+ \/ \d+ \/ \d+ \| [\d.]+ \/ [\d.]+ \/ [\d.]+ \|$/m,
  );
});

test("bench/search-bench.ts runs in smoke mode: the query table, index size and delivery cost", {
  timeout: 240_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(bench("search-bench.ts"), { timeoutMs: 230_000 });
  assert.equal(run.code, 0, run.output);
  for (const query of [
    'UID SEARCH TEXT "<rare>"',
    "UID SORT (REVERSE DATE) UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
  ]) {
    const row = run.output.split("\n").find((l) => l.startsWith(`| ${query} | aerogram |`));
    assert.ok(row, `no row for ${query}:\n${run.output}`);
    // p50, p99, round medians, CPU/query, and a non-zero result count
    assert.match(row, /\| [\d.]+ \| [\d.]+ \| [\d.]+ \/ [\d.]+ \/ [\d.]+ \| [\d.]+ \| [1-9]\d* \|$/);
  }
  assert.match(run.output, /^aerogram index: [\d.]+ MiB = \d+% of the message bytes$/m);
  assert.match(run.output, /^delivery \(ms\/msg.*slowdown -?[\d.]+%/m);
});
