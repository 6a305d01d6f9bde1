/**
 * bench/private-seen-bench.ts in smoke mode (20 messages, 10 operations, one
 * round, Aerogram only): the four operations run, and a grantee's STORE of
 * \Seen stays one transaction of three round trips (BEGIN with the mailbox
 * lock, the \Seen statement, COMMIT) plus the sync's share.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { requireServers, runBenchSmoke } from "@aerogram/testkit";

test("bench/private-seen-bench.ts: per-user \\Seen operations run; a grantee's STORE is ≤ 4 SQL round trips", {
  timeout: 200_000,
}, async (t) => {
  if (!(await requireServers(t, ["postgres"]))) return;
  const run = await runBenchSmoke(fileURLToPath(new URL("../bench/private-seen-bench.ts", import.meta.url)), {
    timeoutMs: 190_000,
  });
  assert.equal(run.code, 0, run.output);
  const sql = (kind: string) =>
    Number(
      new RegExp(`^${kind.replace(/[\\*]/g, "\\$&")} +aerogram .* ([\\d.]+)$`, "m").exec(run.output)?.[1],
    );
  for (const kind of [
    "owner STORE \\Seen",
    "grantee STORE \\Seen",
    "grantee FETCH 1:* FLAGS",
    "grantee STATUS UNSEEN",
  ])
    assert.ok(Number.isFinite(sql(kind)), `${kind} in ${run.output}`);
  assert.ok(sql("grantee STORE \\Seen") <= 4, run.output);
});
