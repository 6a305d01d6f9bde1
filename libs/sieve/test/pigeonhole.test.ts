/**
 * Conformance against Pigeonhole: every corpus script × message (corpus.ts)
 * through libs/sieve and through Pigeonhole's sieve-test must give the same
 * actions (folders with their flags, redirects, reject, vacation, or a compile
 * error). Prints the figures; any disagreement fails with both answers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MESSAGES, SCRIPTS } from "./corpus.ts";
import { ours, Pigeonhole, pigeonholeAvailable } from "./pigeonhole.ts";

test("libs/sieve agrees with Pigeonhole's sieve-test on the corpus", async (t) => {
  const missing = pigeonholeAvailable();
  if (missing) {
    if (process.env.CI === "true") assert.fail(missing);
    t.skip(missing);
    return;
  }
  const p = new Pigeonhole();
  t.after(() => p.close());
  const diffs: string[] = [];
  const outcomes = new Set<string>();
  let total = 0;
  for (const s of SCRIPTS) {
    for (const m of MESSAGES) {
      total++;
      const a = ours(s.script, m.raw, m.from, m.to);
      const b = await p.run(s.script, m.raw, m.from, m.to);
      outcomes.add(JSON.stringify(b.actions));
      if (JSON.stringify(a) !== JSON.stringify(b.actions)) {
        diffs.push(
          `${s.name} × ${m.name}: ours ${JSON.stringify(a)}, Pigeonhole ${JSON.stringify(b.actions)}\n${b.stdout}`,
        );
      }
    }
  }
  t.diagnostic(
    `Sieve conformance: ${total - diffs.length}/${total} agree (${SCRIPTS.length} scripts × ${MESSAGES.length} messages, ${outcomes.size} distinct outcomes)`,
  );
  // The comparison has to discriminate: many different outcomes, not one answer everywhere.
  assert.ok(outcomes.size >= 20, `only ${outcomes.size} distinct outcomes`);
  assert.deepEqual(diffs, []);
});
