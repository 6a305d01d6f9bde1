/**
 * Fan-out of a change in a shared mailbox (issue 24): one owner shares a folder
 * with N grantees (RFC 4314 SETACL "lrs"); each grantee has an IMAP session on
 * a second gateway PROCESS (the real entry point, AEROGRAM_SERVICES=imap) with
 * "Other Users/<owner>/Team" selected and in IDLE. The owner APPENDs through
 * gateway A (this process). Per round:
 *
 *   publishes   events gateway A put on the bus for the APPEND (its EventBus
 *               stats): 1 whatever N, because a shared mailbox's events go on its
 *               owner's subject, which every gateway holding a session on it
 *               subscribes to once (libs/events reference-counts handlers)
 *   latency     from the APPEND's tagged OK to the untagged EXISTS at each of the
 *               N idlers (p50 / p99 / max)
 *   CPU         gateway B's CPU for the round (its process tree, from /proc):
 *               the cost of waking N sessions and syncing each from Postgres
 *
 * Real Postgres, s3rver and the shared NATS under a unique subject prefix.
 *
 *   node --import tsx bench/acl-fanout-bench.ts [grantees=500] [rounds=5]
 *   BENCH_SMOKE=1: 20 grantees, 2 rounds
 */
import { loadavg } from "node:os";
import type { MeteredEventBus } from "@aerogram/events";
import {
  benchSmoke,
  cleanEnv,
  cpuSeconds,
  processTree,
  type RunningProcess,
  startTestBackend,
  startTsProcess,
  TEST_REDIS_URL,
  uniqueId,
} from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";
import { RawClient } from "../test/helpers.ts";

const GRANTEES = Number(process.argv[2] ?? (benchSmoke() ? 20 : 500));
const ROUNDS = Number(process.argv[3] ?? (benchSmoke() ? 2 : 5));
const PASSWORD = "acl-fanout-pass";
const MAIN = "services/aerogram/src/main.ts";
const LOGIN_CONCURRENCY = 8;

const now = (): number => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** An idle grantee session: records when it saw each EXISTS count. */
class Idler {
  readonly seen = new Map<number, number>();
  #text = "";
  constructor(readonly client: RawClient) {
    client.socket.on("data", (chunk: Buffer) => {
      this.#text += chunk.toString("latin1");
      for (let m = /\* (\d+) EXISTS\r\n/.exec(this.#text); m; m = /\* (\d+) EXISTS\r\n/.exec(this.#text)) {
        this.seen.set(Number(m[1]), now());
        this.#text = this.#text.slice(m.index + m[0].length);
      }
      if (this.#text.length > 4096) this.#text = this.#text.slice(-256);
    });
  }
}

async function main(): Promise<void> {
  console.log(
    `acl fan-out bench: 1 shared mailbox, ${GRANTEES} grantees idling on a second gateway process, ${ROUNDS} rounds`,
  );
  const backend = await startTestBackend({ blobs: "s3", nats: true, settings: { LOG_LEVEL: "warn" } });
  const runtime = await backend.runtime("acl-fanout-a", { IMAP_PORT: "0", BIND_ADDRESS: "127.0.0.1" });
  const server = new ImapServer(runtime);
  const endpoints = await server.listen({ port: 0, host: "127.0.0.1" });
  const portA = Number(/:(\d+)/.exec(endpoints[0]!)![1]);
  let gatewayB: RunningProcess | undefined;
  const clients: RawClient[] = [];
  try {
    gatewayB = startTsProcess(
      MAIN,
      [],
      cleanEnv({
        ...backend.env,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: `t${uniqueId()}:`,
        AEROGRAM_SERVICES: "imap",
        IMAP_PORT: "0",
        HTTP_PORT: "0",
        BIND_ADDRESS: "127.0.0.1",
        LOG_LEVEL: "warn",
      }),
    );
    const [, portText] = await gatewayB.waitFor(/IMAP\s+127\.0\.0\.1:(\d+)/, 180_000);
    const portB = Number(portText);
    const id = uniqueId();
    const owner = `owner${id}@example.org`;
    await runtime.store.accounts.create({ address: owner, password: PASSWORD });
    const grantees = Array.from({ length: GRANTEES }, (_, i) => `g${i}-${id}@example.org`);
    let started = Date.now();
    await inBatches(grantees, LOGIN_CONCURRENCY, async (address) => {
      await runtime.store.accounts.create({ address, password: PASSWORD });
    });
    console.log(`setup: ${GRANTEES} accounts in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const o = await RawClient.connect(portA);
    clients.push(o);
    if (!/OK/.test(await o.login(owner, PASSWORD))) throw new Error("owner login failed");
    if (!/OK/.test(await o.command("CREATE Team"))) throw new Error("CREATE failed");
    started = Date.now();
    for (const g of grantees) {
      const answer = await o.command(`SETACL Team ${g} lrs`);
      if (!/OK/.test(answer)) throw new Error(`SETACL: ${answer}`);
    }
    console.log(`setup: ${GRANTEES} SETACL in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const shared = `Other Users/${owner}/Team`;
    const idlers: Idler[] = [];
    let failed = 0;
    started = Date.now();
    await inBatches(grantees, LOGIN_CONCURRENCY, async (g) => {
      try {
        const c = await RawClient.connect(portB);
        clients.push(c);
        if (!/OK/.test(await c.login(g, PASSWORD))) throw new Error("login");
        if (!/OK \[READ-WRITE\]/.test(await c.command(`SELECT "${shared}"`))) throw new Error("select");
        c.write("idle IDLE\r\n");
        await c.readUntil((s) => s.includes("+ idling"));
        c.take();
        idlers.push(new Idler(c));
      } catch {
        failed++;
      }
    });
    console.log(
      `setup: ${idlers.length} sessions idling (${failed} failed) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    if (idlers.length === 0) throw new Error("no idlers");

    const bus = runtime.events as MeteredEventBus;
    const pidB = gatewayB.child.pid!;
    const rows: {
      publishes: number;
      p50: number;
      p99: number;
      max: number;
      cpuMs: number;
      missed: number;
      load: number;
    }[] = [];
    const message = (n: number) =>
      `From: Owner <${owner}>\r\nSubject: round ${n}\r\nMessage-ID: <r${n}.${id}@example.org>\r\n\r\nfan-out round ${n}\r\n`;
    for (let round = 1; round <= ROUNDS; round++) {
      const cpuBefore = processTree(pidB).reduce((s, p) => s + cpuSeconds(p), 0);
      const publishedBefore = bus.stats.published;
      const text = message(round);
      o.write(`ap${round} APPEND Team {${text.length}+}\r\n${text}\r\n`);
      const answer = await o.response(`ap${round}`);
      const ok = now();
      if (!/OK/.test(answer)) throw new Error(`APPEND: ${answer}`);
      const deadline = Date.now() + 60_000;
      while (idlers.some((i) => !i.seen.has(round)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      const latencies = idlers
        .map((i) => i.seen.get(round))
        .filter((t): t is number => t !== undefined)
        .map((t) => Math.max(0, t - ok))
        .sort((a, b) => a - b);
      // Let the process settle so the round's CPU is all counted.
      await new Promise((r) => setTimeout(r, 200));
      const cpuMs = (processTree(pidB).reduce((s, p) => s + cpuSeconds(p), 0) - cpuBefore) * 1000;
      const row = {
        publishes: bus.stats.published - publishedBefore,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? Number.NaN,
        cpuMs,
        missed: idlers.length - latencies.length,
        load: loadavg()[0]!,
      };
      rows.push(row);
      console.log(
        `round ${round}: publishes ${row.publishes}  latency p50 ${row.p50.toFixed(1)} ms  p99 ${row.p99.toFixed(1)} ms  max ${row.max.toFixed(1)} ms  gateway-B CPU ${row.cpuMs.toFixed(0)} ms (${(row.cpuMs / idlers.length).toFixed(2)} ms/session)  missed ${row.missed}  load ${row.load.toFixed(1)}`,
      );
    }
    const med = (values: number[]) => {
      const s = [...values].sort((a, b) => a - b);
      return `${s[0]!.toFixed(1)} / ${s[Math.floor(s.length / 2)]!.toFixed(1)} / ${s[s.length - 1]!.toFixed(1)}`;
    };
    console.log(`summary over ${ROUNDS} rounds (min / median / max), ${idlers.length} idlers:`);
    console.log(`publishes per APPEND   ${med(rows.map((r) => r.publishes))}`);
    console.log(`latency p50 ms         ${med(rows.map((r) => r.p50))}`);
    console.log(`latency p99 ms         ${med(rows.map((r) => r.p99))}`);
    console.log(`gateway-B CPU ms/round ${med(rows.map((r) => r.cpuMs))}`);
    console.log(
      `missed                 ${rows.reduce((s, r) => s + r.missed, 0)} of ${ROUNDS * idlers.length} idler-deliveries never seen`,
    );
  } finally {
    for (const c of clients) c.close();
    await gatewayB?.stop("SIGTERM");
    server.close();
    await runtime.close();
    await backend.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
