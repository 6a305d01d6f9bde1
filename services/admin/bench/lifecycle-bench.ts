/**
 * Storage-lifecycle throughput (issue 22's closing figures): messages per
 * second and CPU per message of `mailctl migrate` from a private Dovecot
 * (BENCH_MESSAGES messages in its INBOX), of an mbox export and of the import
 * of that file into another account, and of the blob reclaimer freeing the
 * blobs of a deleted account (objects/s). BENCH_ROUNDS rounds (default 3),
 * each on fresh accounts; prints every round with the load average,
 * min/median/max, and the CPU per message of this process and of the
 * database backends (Aerogram) and of Dovecot's processes (the source side
 * of the migration). There is no reference figure for these one-shot tools
 * in the same run; the CPU per message is the comparable number.
 *
 *   npm run bench -w @aerogram/admin   (env: BENCH_MESSAGES, BENCH_ROUNDS)
 *
 * Smoke mode (BENCH_SMOKE=1; run by test/bench-smoke.test.ts): 10 messages,
 * one round; without Dovecot installed the migration phase is skipped.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BlobReclaimer } from "@aerogram/delivery";
import {
  benchKnob,
  cpuSeconds,
  dovecotUnavailable,
  loadAverage1,
  processTree,
  startPrivateDovecot,
  startTestBackend,
  summary,
  tempDir,
} from "@aerogram/testkit";
import { runLifecycleCommand } from "../src/lifecycle-commands.ts";

const N = benchKnob("BENCH_MESSAGES", 2000, 10);
const ROUNDS = benchKnob("BENCH_ROUNDS", 3, 1);

const message = (i: number) =>
  Buffer.from(
    `From: sender${i % 50}@old.test\r\nTo: user@old.test\r\nSubject: bench message ${i}\r\nMessage-ID: <b${i}@old.test>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\n${"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(20 + (i % 40))}`,
  );

/** CPU seconds of this process (user + system). */
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  const backend = await startTestBackend({ blobs: "fs", settings: { LOG_LEVEL: "silent" } });
  const rt = await backend.runtime("lifecycle-bench");
  const dir = await tempDir("aerogram-lifecycle-bench-");
  const skipMigrate = dovecotUnavailable(["imap"]);
  const mail = Array.from({ length: N }, (_, i) => message(i));
  const dovecot = skipMigrate
    ? undefined
    : await startPrivateDovecot({
        protocols: ["imap"],
        users: ["user@old.test"],
        password: "pw",
        mail: { "user@old.test": mail },
      });
  const passwordFile = join(dir.path, "pw");
  await writeFile(passwordFile, "pw\n");
  const rates: Record<string, number[]> = { migrate: [], export: [], import: [], reclaim: [] };
  const cpuPerMsg: Record<string, number[]> = { migrate: [], export: [], import: [], reclaim: [] };
  const dovecotCpuPerMsg: number[] = [];
  const timed = async (name: string, count: number, work: () => Promise<unknown>) => {
    const cpu0 = selfCpu();
    const t0 = performance.now();
    await work();
    const seconds = (performance.now() - t0) / 1000;
    rates[name]!.push(count / seconds);
    cpuPerMsg[name]!.push(((selfCpu() - cpu0) * 1000) / count);
    return seconds;
  };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const load = loadAverage1();
      const src = `src${round}@example.com`;
      const dst = `dst${round}@example.com`;
      await rt.store.accounts.create({ address: src, password: "pw" });
      await rt.store.accounts.create({ address: dst, password: "pw" });
      const line: string[] = [];
      if (dovecot) {
        const pids = () => processTree(dovecot.pid);
        const dcpu = () => pids().reduce((s, p) => s + cpuSeconds(p), 0);
        const d0 = dcpu();
        await timed("migrate", N, async () => {
          const r = await runLifecycleCommand(rt, [
            "migrate",
            src,
            "--from",
            `imap://127.0.0.1:${dovecot.ports.imap}`,
            "--user",
            "user@old.test",
            "--password-file",
            passwordFile,
            "--quiet",
          ]);
          if (!r.output.includes(`${N} messages copied`)) throw new Error(r.output);
        });
        dovecotCpuPerMsg.push(((dcpu() - d0) * 1000) / N);
        line.push(`migrate ${rates.migrate!.at(-1)!.toFixed(0)} msgs/s`);
      } else {
        // No Dovecot: fill the source account directly so export/import still run.
        await runLifecycleCommand(rt, ["import", src, await mboxOf(dir.path, mail), "--quiet"]);
      }
      const file = join(dir.path, `round${round}.mbox`);
      await timed("export", N, async () => {
        const r = await runLifecycleCommand(rt, ["export", src, "--format", "mbox", file, "--quiet"]);
        if (!r.output.includes(`exported ${N} messages`)) throw new Error(r.output);
      });
      await timed("import", N, async () => {
        const r = await runLifecycleCommand(rt, ["import", dst, file, "--quiet"]);
        if (!r.output.includes(`imported ${N} messages`)) throw new Error(r.output);
      });
      // Free everything: both accounts deleted (they share every blob: the import stored the
      // exported bytes, so the same keys), the reclaimer drains the queue: N objects.
      const a = (await rt.store.accounts.byAddress(src))!;
      const b = (await rt.store.accounts.byAddress(dst))!;
      await rt.store.accounts.delete(a.id);
      await rt.store.accounts.delete(b.id);
      const reclaimer = new BlobReclaimer(
        { store: rt.store, blobs: rt.blobs },
        { graceMs: 0, tombstoneMs: 3600_000, intervalMs: 60_000, batch: 200 },
      );
      let freed = 0;
      await timed("reclaim", N, async () => {
        for (let i = 0; i < 600 && (await rt.store.blobReclaim.stats()).pendingObjects > 0; i++) {
          freed += (await reclaimer.drain()).deleted;
        }
      });
      line.push(
        `export ${rates.export!.at(-1)!.toFixed(0)} msgs/s`,
        `import ${rates.import!.at(-1)!.toFixed(0)} msgs/s`,
        `reclaim ${freed} objects freed, ${rates.reclaim!.at(-1)!.toFixed(0)} objects/s`,
      );
      console.log(`round ${round} (load ${load.toFixed(1)}): ${line.join(", ")}`);
    }
    for (const name of ["migrate", "export", "import", "reclaim"]) {
      if (rates[name]!.length === 0) {
        console.log(`${name}: skipped (${skipMigrate})`);
        continue;
      }
      const r = summary(rates[name]!);
      const c = summary(cpuPerMsg[name]!);
      console.log(
        `${name}: ${r.median.toFixed(0)} msgs/s (min ${r.min.toFixed(0)}, max ${r.max.toFixed(0)}), ` +
          `mailctl CPU ${c.median.toFixed(2)} ms/msg`,
      );
    }
    if (dovecotCpuPerMsg.length)
      console.log(`dovecot (migration source) CPU ${summary(dovecotCpuPerMsg).median.toFixed(2)} ms/msg`);
  } finally {
    await dovecot?.stop();
    await rt.close();
    await backend.stop();
    await dir.remove();
  }
}

/** An mbox of the messages (no Dovecot to migrate from). */
async function mboxOf(dir: string, mail: Buffer[]): Promise<string> {
  const { mboxEntry } = await import("../src/lifecycle/mbox.ts");
  const file = join(dir, "seed.mbox");
  await writeFile(file, Buffer.concat(mail.map((m) => mboxEntry(m, new Date()))));
  return file;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
