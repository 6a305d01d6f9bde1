/**
 * `npm run bench:search` (services/imap, issue 20): SEARCH / SORT / THREAD on a
 * big generated mailbox, Aerogram (the full-text index in PostgreSQL) against
 * a private Dovecot with fts-xapian (Debian's dovecot-fts-xapian; without it,
 * Dovecot's default search), same messages, same run, alternating.
 *
 *   UID SEARCH TEXT "<rare word>"        UID SEARCH BODY "<common word>"
 *   UID SORT (REVERSE DATE) UTF-8 ALL    UID THREAD REFERENCES UTF-8 ALL
 *
 * The mailbox: BENCH_MESSAGES generated messages (seeded): a vocabulary with
 * Zipf frequencies (s = 1.07), log-normal lengths, 10% HTML, 5% with a base64
 * attachment, 30% replies (References/In-Reply-To), dates over two years.
 * Aerogram's copy is bulk-loaded (blobs written to the filesystem blob store,
 * message rows 500 per append statement) on the test PostgreSQL, then indexed by the background indexer (libs/delivery
 * search-index-worker.ts, timed apart); Dovecot's is written into its maildir
 * and indexed with `doveadm index` (timed).
 *
 * The ", cold" SORT/THREAD lines change a flag before each query (untimed; its
 * CPU is counted): Aerogram caches a SORT/THREAD ... ALL answer per session
 * until the mailbox's HIGHESTMODSEQ moves, so the plain lines after the first
 * query measure the cache, the cold ones the computation.
 *
 * Prints per query: p50 and p99 over all queries of all rounds, the min /
 * median / max of the per-round medians, CPU per query (ms; Aerogram = this
 * process, which also runs the client, plus its PostgreSQL backends; Dovecot =
 * its process tree; from /proc), how many results each server returned (the
 * answers must agree), the index size as a share of the message bytes, and
 * delivery with and without the index (the slowdown), with the load average.
 *
 * Environment: BENCH_MESSAGES=100000, BENCH_QUERIES=50 (per query kind and
 * server, split over the rounds), BENCH_ROUNDS=3, BENCH_DELIVERY_SAMPLE=500
 * (messages per delivery-cost round and mode), BENCH_SERVERS=aerogram,dovecot,
 * BENCH_CONCURRENCY=8 (deliveries in flight while loading), BENCH_KEEP_DB=1 (keep
 * Aerogram's database for EXPLAIN; its URL is printed).
 * BENCH_SMOKE=1: 300 messages, 3 queries, one round, Aerogram only.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { loadConfig } from "@aerogram/config";
import { Delivery, SearchIndexer, SearchIndexWorker, toIndexColumns } from "@aerogram/delivery";
import { indexMessageSync, toCrlf } from "@aerogram/mime";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import {
  benchKnob,
  benchSmoke,
  cpuSeconds,
  createTestDatabase,
  dovecotUnavailable,
  loadAverage1,
  type PrivateDovecot,
  postgresBackendPids,
  processTree,
  startPrivateDovecot,
  summary,
  TEST_DATABASE_URL,
  tempDir,
} from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";

const SMOKE = benchSmoke();
const N = benchKnob("BENCH_MESSAGES", 100_000, 300);
const QUERIES = benchKnob("BENCH_QUERIES", 50, 3);
const ROUNDS = benchKnob("BENCH_ROUNDS", 3, 1);
const DELIVERY_SAMPLE = benchKnob("BENCH_DELIVERY_SAMPLE", 500, 30);
const CONCURRENCY = benchKnob("BENCH_CONCURRENCY", 8, 4);
const SERVERS = (process.env.BENCH_SERVERS ?? (SMOKE ? "aerogram" : "aerogram,dovecot")).split(",");
const PASSWORD = "bench-pass";
const XAPIAN = existsSync("/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so");

// ---- the generated mailbox ------------------------------------------------------

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = "ka lo mi ne ru sa to vi da fe go hu ji ke la mo nu pa qui re si tu ve wa xo yi zu"
  .split(" ")
  .flatMap((a) => ["", "n", "r", "s"].map((b) => a + b));
const VOCABULARY = 30_000;
/** The word of a Zipf rank: syllables from the rank's digits in base SYLLABLES.length. */
function word(rank: number): string {
  let r = rank + SYLLABLES.length;
  let w = "";
  while (r > 0) {
    w += SYLLABLES[r % SYLLABLES.length];
    r = Math.floor(r / SYLLABLES.length);
  }
  return w;
}
const CUMULATIVE = (() => {
  const c = new Float64Array(VOCABULARY);
  let sum = 0;
  for (let r = 0; r < VOCABULARY; r++) {
    sum += 1 / (r + 1) ** 1.07;
    c[r] = sum;
  }
  for (let r = 0; r < VOCABULARY; r++) c[r] = c[r]! / sum;
  return c;
})();
function zipfRank(rand: () => number): number {
  const u = rand();
  let lo = 0;
  let hi = VOCABULARY - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (CUMULATIVE[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Document frequency of the rarer words (rank ≥ 3000) in the mailbox, to pick "rare" query words. */
const rareCounts = new Map<number, number>();
const counted = new Uint8Array(N);

function generate(i: number): Buffer {
  const rand = prng(i * 7919 + 17);
  // each mailbox message counts once, however often it is generated (both servers)
  const count = i < N && counted[i] === 0;
  if (count) counted[i] = 1;
  const seen = new Set<number>();
  const words = (n: number) => {
    const out: string[] = [];
    for (let k = 0; k < n; k++) {
      const r = zipfRank(rand);
      if (count && r >= 3000 && !seen.has(r)) {
        seen.add(r);
        rareCounts.set(r, (rareCounts.get(r) ?? 0) + 1);
      }
      out.push(word(r));
    }
    return out;
  };
  const date = new Date(Date.UTC(2023, 0, 1) + Math.floor(rand() * 730 * 86400) * 1000);
  const reply = i > 10 && rand() < 0.3 ? Math.floor(rand() * i) : null;
  const subject =
    reply !== null
      ? `Re: subject ${reply % 5000} ${word(reply % 700)}`
      : `subject ${i % 5000} ${word(i % 700)}`;
  const length = Math.min(3000, Math.max(20, Math.round(Math.exp(4.8 + rand() * 1.6))));
  const lines: string[] = [];
  const body = words(length);
  for (let k = 0; k < body.length; k += 12) lines.push(body.slice(k, k + 12).join(" "));
  const headers = [
    `From: Sender ${i % 500} <sender${i % 500}@example.net>`,
    "To: bench <bench@example.org>",
    `Subject: ${subject}`,
    `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <m${i}@bench.example>`,
    ...(reply !== null
      ? [`In-Reply-To: <m${reply}@bench.example>`, `References: <m${reply}@bench.example>`]
      : []),
    "MIME-Version: 1.0",
  ];
  const kind = rand();
  let text: string;
  if (kind < 0.1) {
    headers.push("Content-Type: text/html; charset=utf-8");
    text = `<html><body>${lines.map((l) => `<p>${l}</p>`).join("\r\n")}</body></html>\r\n`;
  } else if (kind < 0.15) {
    headers.push('Content-Type: multipart/mixed; boundary="b"');
    const attachment = Buffer.alloc(20_000 + Math.floor(rand() * 40_000), i % 251).toString("base64");
    text =
      `--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${lines.join("\r\n")}\r\n` +
      `--b\r\nContent-Type: application/pdf; name="doc${i}.pdf"\r\nContent-Disposition: attachment; filename="doc${i}.pdf"\r\n` +
      `Content-Transfer-Encoding: base64\r\n\r\n${attachment.replace(/(.{76})/g, "$1\r\n")}\r\n--b--\r\n`;
  } else {
    headers.push("Content-Type: text/plain; charset=utf-8");
    text = `${lines.join("\r\n")}\r\n`;
  }
  return Buffer.from(`${headers.join("\r\n")}\r\n\r\n${text}`);
}

// ---- a minimal IMAP client ---------------------------------------------------------

class Client {
  #buffer = Buffer.alloc(0);
  #wake: (() => void) | null = null;
  #tag = 0;
  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, d]);
      this.#wake?.();
    });
  }
  static async open(port: number, user: string): Promise<Client> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const c = new Client(socket);
    await c.#until(/\r\n/);
    c.#buffer = Buffer.alloc(0);
    await c.command(`LOGIN ${user} ${PASSWORD}`);
    await c.command("SELECT INBOX");
    return c;
  }
  async #until(re: RegExp): Promise<string> {
    for (;;) {
      // only the tail can hold the tagged line: don't rescan a 700 KB SORT answer each chunk
      const tail = this.#buffer.subarray(Math.max(0, this.#buffer.length - 4096)).toString("latin1");
      if (re.test(tail)) return this.#buffer.toString("latin1");
      await new Promise<void>((r) => {
        this.#wake = r;
      });
    }
  }
  /** Sends a command; resolves with its untagged lines once the tagged OK came. */
  async command(text: string): Promise<string> {
    const tag = `b${++this.#tag}`;
    this.socket.write(`${tag} ${text}\r\n`);
    const all = await this.#until(new RegExp(`(^|\\n)${tag} (OK|NO|BAD)[^\\n]*\\n$`));
    this.#buffer = Buffer.alloc(0);
    if (!new RegExp(`${tag} OK`).test(all)) throw new Error(`${text}: ${all.slice(-200)}`);
    return all;
  }
  close(): void {
    this.socket.destroy();
  }
}

/** How many results an answer holds: numbers of a SEARCH/SORT line, or messages of a THREAD line. */
function resultCount(answer: string): number {
  const line = answer.split("\r\n").find((l) => /^\* (SEARCH|SORT|THREAD)/.test(l)) ?? "";
  return line.replace(/^\* \w+/, "").match(/\d+/g)?.length ?? 0;
}

// ---- the servers ---------------------------------------------------------------------

interface Server {
  name: string;
  port: number;
  user: string;
  /** CPU seconds so far of what serves it (for deltas). */
  cpu(): Promise<number>;
  indexBytes: number;
  stop(): Promise<void>;
}

async function loadAerogram(messageBytes: { total: number }): Promise<{ server: Server; delivery: string }> {
  const db = await createTestDatabase();
  const blobDir = await tempDir("search-bench-blobs-");
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: db.url,
    BLOB_DIR: blobDir.path,
    DATA_DIR: blobDir.path,
    LOG_LEVEL: "warn",
    IMAP_PORT: "0",
  });
  const runtime: Runtime = await createRuntime(config, { service: "search-bench" });
  const account = await runtime.store.accounts.create({ address: "bench@example.org", password: PASSWORD });
  const inbox = (await runtime.store.mailboxes.byName(account.id, "INBOX"))!.id;
  const scratch = await runtime.store.mailboxes.create(account.id, "Scratch");
  const deps = { store: runtime.store, blobs: runtime.blobs, events: runtime.events };
  const delivery = new Delivery(deps);
  const indexer = new SearchIndexer(
    { store: runtime.store, blobs: runtime.blobs },
    { maxBodyChars: config.protocolLimits.search.maxTextChars },
  );
  const limits = config.protocolLimits.search;
  /** The lifecycle service's worker as configured (SEARCH_INDEX_*), one shard: the bench is one process. */
  const worker = (batch = limits.indexBatch, pauseMs = limits.indexPauseMs) =>
    new SearchIndexWorker(
      { store: runtime.store, indexer },
      { batch, pauseMs, pollMs: limits.indexPollMs, shards: 1 },
    );
  // The pool closes a connection idle for 30 s, and with its backend goes its CPU: every backend's
  // last reading is kept (sampled twice a second), so a closed connection's work still counts.
  const lastCpu = new Map<number, number>();
  const sampleBackends = async () => {
    for (const pid of await postgresBackendPids(TEST_DATABASE_URL, db.name)) {
      const s = cpuSeconds(pid);
      if (s > 0 || !lastCpu.has(pid)) lastCpu.set(pid, Math.max(s, lastCpu.get(pid) ?? 0));
    }
  };
  const sampler = setInterval(() => void sampleBackends().catch(() => {}), 500);
  sampler.unref();
  /**
   * The backlog drained without pauses (what the worker does after an import). A batch whose
   * write outlives the pool's 30 s query timeout (seen at 49,000 of 100,000 rows at load 50) is
   * retried as the lifecycle service's loop does, instead of ending the bench.
   */
  const drain = async (): Promise<number> => {
    let total = 0;
    for (let failures = 0; ; ) {
      try {
        total += await worker(1000, 0).runOnce();
        return total;
      } catch (err) {
        if (++failures > 20) throw err;
        console.error(`aerogram: indexing batch failed (${(err as Error).message}), retrying`);
      }
    }
  };
  const backendCpu = async () => {
    await sampleBackends();
    let s = 0;
    for (const v of lastCpu.values()) s += v;
    return s;
  };
  const ownCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  /** GIN's pending list flushed in a backend we count (else autovacuum would do that work unseen). */
  const flushGin = () => runtime.store.search.flushPending();
  const deliverAll = async (from: number, count: number, mailboxId: number) => {
    let next = from;
    const end = from + count;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < end) {
          const i = next++;
          await delivery.deliver(generate(i), [{ mailboxId }], new Date(Date.UTC(2025, 0, 1) + i * 1000));
        }
      }),
    );
  };
  // Delivery cost, alternating: "without" = no indexer anywhere (the rows never get
  // written), "with" = the background indexer running beside the deliveries as the
  // lifecycle service runs it; its CPU counts until the last row is written.
  // The ack time is until the last delivery is acknowledged.
  const cost: Record<"with" | "without", { ms: number[]; cpu: number[]; perSecond: number[] }> = {
    with: { ms: [], cpu: [], perSecond: [] },
    without: { ms: [], cpu: [], perSecond: [] },
  };
  /** Backlog left when a "with" round's last delivery was acknowledged, and the drain after it (ms). */
  const keepingUp: { backlog: number[]; drainMs: number[] } = { backlog: [], drainMs: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 ? (["without", "with"] as const) : (["with", "without"] as const)) {
      // what the last "without" round left unindexed is not this round's work
      await drain();
      await flushGin();
      // fresh messages each time (a stored blob is not stored again), from the same distribution
      const first = N + 1_000_000 + (round * 2 + (mode === "with" ? 0 : 1)) * DELIVERY_SAMPLE;
      const background = mode === "with" ? worker() : null;
      background?.start();
      const t0 = performance.now();
      const c0 = ownCpu() + (await backendCpu());
      await deliverAll(first, DELIVERY_SAMPLE, scratch.id);
      const elapsed = performance.now() - t0;
      cost[mode].ms.push(elapsed / DELIVERY_SAMPLE);
      cost[mode].perSecond.push((DELIVERY_SAMPLE * 1000) / elapsed);
      if (background) {
        keepingUp.backlog.push((await runtime.store.search.backlog()).messages);
        const d0 = performance.now();
        // the worker finishes its batch; what came after its last look is one more pass
        await background.stop();
        await background.runOnce();
        await flushGin();
        keepingUp.drainMs.push(performance.now() - d0);
      }
      cost[mode].cpu.push(((ownCpu() + (await backendCpu()) - c0) * 1000) / DELIVERY_SAMPLE);
    }
  }
  await drain();
  // The mailbox itself, bulk-loaded: the blobs written straight to the blob store
  // (LOAD_CONCURRENCY at a time; a fresh store has no reclaimed content to check)
  // with their MIME index, the rows appended 500 per transaction (MULTIAPPEND's
  // statement); then the indexer drains the backlog in batches of 1000 without
  // pauses (what it does after an import), timed apart.
  const loadStart = performance.now();
  const BATCH = 500;
  const LOAD_CONCURRENCY = 32;
  for (let from = 0; from < N; from += BATCH) {
    const ids = Array.from({ length: Math.min(BATCH, N - from) }, (_, k) => from + k);
    const blobs: { key: string; size: number; index: ReturnType<typeof indexMessageSync> }[] = [];
    for (let k = 0; k < ids.length; k += LOAD_CONCURRENCY)
      blobs.push(
        ...(await Promise.all(
          ids.slice(k, k + LOAD_CONCURRENCY).map(async (i) => {
            const bytes = toCrlf(generate(i));
            const put = await runtime.blobs.putBuffer(bytes);
            return { key: put.key, size: put.size, index: indexMessageSync(bytes) };
          }),
        )),
      );
    await runtime.store.messages.append([
      {
        mailboxId: inbox,
        messages: blobs.map((b, k) => ({
          blobKey: b.key,
          size: b.size,
          internalDate: new Date(Date.UTC(2025, 0, 1) + ids[k]! * 1000),
          index: toIndexColumns(b.index),
        })),
      },
    ]);
    if (!SMOKE && (from + BATCH) % 5000 === 0) console.error(`aerogram: ${from + BATCH} / ${N} stored`);
  }
  const storeSecs = (performance.now() - loadStart) / 1000;
  const indexStart = performance.now();
  const ownCpu0 = ownCpu();
  const pgCpu0 = await backendCpu();
  const indexedRows = await drain();
  await flushGin();
  const perRow = (seconds: number) => (seconds * 1000) / Math.max(1, indexedRows);
  const indexOwnMs = perRow(ownCpu() - ownCpu0);
  const indexPgMs = perRow((await backendCpu()) - pgCpu0);
  const indexCpuMs = indexOwnMs + indexPgMs;
  const indexSecs = (performance.now() - indexStart) / 1000;
  const sizes = await runtime.store.pool.query<{ bytes: string }>(
    "SELECT sum(size)::text AS bytes FROM messages WHERE mailbox_id = $1",
    [inbox],
  );
  messageBytes.total = Number(sizes.rows[0]!.bytes);
  const { indexBytes, tableBytes } = await runtime.store.search.sizes();
  const imap = new ImapServer(runtime);
  const endpoints = await imap.listen({ port: 0, host: "127.0.0.1" });
  const port = Number(/:(\d+)/.exec(endpoints[0]!)![1]);
  const m = (k: "with" | "without", f: "ms" | "cpu" | "perSecond") => summary(cost[k][f]);
  const fmt = (s: { min: number; median: number; max: number }) =>
    `${s.min.toFixed(2)} / ${s.median.toFixed(2)} / ${s.max.toFixed(2)}`;
  const note =
    `delivery throughput (msg/s, concurrency ${CONCURRENCY}, ${DELIVERY_SAMPLE} per round and mode, alternating, min/median/max of ${ROUNDS}): ` +
    `indexer running ${fmt(m("with", "perSecond"))}, indexer off ${fmt(m("without", "perSecond"))} → ` +
    `${((1 - m("with", "perSecond").median / m("without", "perSecond").median) * 100).toFixed(1)}% slower; ` +
    `backlog at the last ack ${keepingUp.backlog.join("/")} messages, drained ${keepingUp.drainMs.map((x) => x.toFixed(0)).join("/")} ms after it\n` +
    `delivery (ms/msg, concurrency ${CONCURRENCY}, min/median/max of ${ROUNDS}): with index ${fmt(m("with", "ms"))}, ` +
    `without ${fmt(m("without", "ms"))} → ack slowdown ${((m("with", "ms").median / m("without", "ms").median - 1) * 100).toFixed(1)}%; ` +
    `CPU ms/msg (ours + PostgreSQL, the background indexing included) with ${fmt(m("with", "cpu"))}, without ${fmt(m("without", "cpu"))} → ` +
    `${((m("with", "cpu").median / m("without", "cpu").median - 1) * 100).toFixed(1)}%\n` +
    `aerogram load: ${N} messages stored in ${storeSecs.toFixed(0)} s (${(N / storeSecs).toFixed(0)}/s), ` +
    `indexed by the background indexer in ${indexSecs.toFixed(0)} s (${(indexedRows / indexSecs).toFixed(0)}/s, CPU ${indexCpuMs.toFixed(2)} ms/msg: ours ${indexOwnMs.toFixed(2)}, PostgreSQL ${indexPgMs.toFixed(2)}); ` +
    `search rows ${(tableBytes / 1048576).toFixed(1)} MiB + indexes ${(indexBytes / 1048576).toFixed(1)} MiB`;
  return {
    delivery: note,
    server: {
      name: "aerogram",
      port,
      user: "bench@example.org",
      cpu: async () => ownCpu() + (await backendCpu()),
      indexBytes: indexBytes + tableBytes,
      async stop() {
        clearInterval(sampler);
        imap.close();
        await runtime.close();
        // BENCH_KEEP_DB=1: keep the loaded database for EXPLAIN (drop it yourself)
        if (process.env.BENCH_KEEP_DB === "1") console.log(`kept database ${db.url}`);
        else await db.drop();
        await blobDir.remove();
      },
    },
  };
}

async function loadDovecot(): Promise<{ server: Server; note: string }> {
  const settings = XAPIAN
    ? `mail_plugins = $mail_plugins fts fts_xapian
plugin {
  fts = xapian
  fts_xapian = partial=3 full=20 verbose=0
  fts_autoindex = yes
  fts_enforced = yes
}
`
    : "";
  const dovecot: PrivateDovecot = await startPrivateDovecot({
    protocols: ["imap"],
    users: ["bench"],
    password: PASSWORD,
    settings,
  });
  const cur = join(dovecot.dir, "home", "bench", "Maildir", "cur");
  let nextFile = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (nextFile < N) {
        const i = nextFile++;
        const file = join(cur, `${1_700_000_000 + i}.M${i}.bench:2,`);
        await writeFile(file, generate(i).toString("latin1").replace(/\r\n/g, "\n"), "latin1");
        await chown(file, 65534, 65534);
      }
    }),
  );
  const t0 = performance.now();
  // the maildir scan (and, with fts-xapian, the index) before any timed query
  const conf = join(dovecot.dir, "dovecot.conf");
  // not spawnSync: Aerogram's load runs in this process meanwhile
  const indexed = await new Promise<{ status: number | null }>((resolve) =>
    spawn("doveadm", ["-c", conf, "index", "-u", "bench", "INBOX"], { stdio: "ignore" }).on(
      "close",
      (status) => resolve({ status }),
    ),
  );
  const warm = await Client.open(dovecot.ports.imap!, "bench");
  await warm.command('UID SEARCH TEXT "warmup"');
  warm.close();
  const indexSecs = (performance.now() - t0) / 1000;
  // fts-xapian keeps its index next to the mail (the maildir)
  const du = spawnSync("du", ["-sb", join(dovecot.dir, "home", "bench", "Maildir", "xapian-indexes")], {
    encoding: "utf8",
  });
  const indexBytes = Number(du.stdout.split(/\s/)[0] ?? 0) || 0;
  return {
    note:
      `dovecot: ${XAPIAN ? "fts-xapian" : "default search (dovecot-fts-xapian not installed)"}, ` +
      `maildir sync + index ${indexSecs.toFixed(0)} s (doveadm index exit ${indexed.status})`,
    server: {
      name: "dovecot",
      port: dovecot.ports.imap!,
      user: "bench",
      cpu: async () => processTree(dovecot.pid).reduce((s, p) => s + cpuSeconds(p), 0),
      indexBytes,
      stop: () => dovecot.stop(),
    },
  };
}

// ---- the run --------------------------------------------------------------------------

interface Kind {
  label: string;
  command: (q: number) => string;
  /** Sent before each timed command, untimed (its CPU is in the round's). */
  before?: (q: number) => string;
}

async function main() {
  const messageBytes = { total: 0 };
  const servers: Server[] = [];
  const notes: string[] = [];
  // Both servers load at once (two cores; the load is minutes each at 100,000 messages);
  // the delivery cost is CPU per message from /proc, and the queries run after both loads.
  const why = !SMOKE && SERVERS.includes("dovecot") ? dovecotUnavailable(["imap"]) : undefined;
  if (why) notes.push(`dovecot: ${why}`);
  const [a, d] = await Promise.all([
    SERVERS.includes("aerogram") ? loadAerogram(messageBytes) : undefined,
    !SMOKE && SERVERS.includes("dovecot") && !why ? loadDovecot() : undefined,
  ]);
  if (a) {
    servers.push(a.server);
    notes.push(a.delivery);
  }
  if (d) {
    servers.push(d.server);
    notes.push(d.note);
  }
  if (messageBytes.total === 0) for (let i = 0; i < N; i++) messageBytes.total += generate(i).length;
  // rare words: in 1..20 messages; common: the 10 most frequent
  const rare = [...rareCounts.entries()]
    .filter(([, n]) => n >= 1 && n <= 20)
    .map(([r]) => word(r))
    .slice(0, Math.max(QUERIES, 1));
  const kinds: Kind[] = [
    { label: 'UID SEARCH TEXT "<rare>"', command: (q) => `UID SEARCH TEXT "${rare[q % rare.length]}"` },
    { label: 'UID SEARCH BODY "<common>"', command: (q) => `UID SEARCH BODY "${word(q % 10)}"` },
    { label: "UID SORT (REVERSE DATE) UTF-8 ALL", command: () => "UID SORT (REVERSE DATE) UTF-8 ALL" },
    { label: "UID THREAD REFERENCES UTF-8 ALL", command: () => "UID THREAD REFERENCES UTF-8 ALL" },
    // a flag change first raises HIGHESTMODSEQ: Aerogram's cached SORT/THREAD answer is stale,
    // computed anew (what a mailbox that changes between two queries costs)
    {
      label: "UID SORT (REVERSE DATE) UTF-8 ALL, cold",
      before: (q) => `UID STORE 1 ${q % 2 ? "-" : "+"}FLAGS.SILENT (\\Flagged)`,
      command: () => "UID SORT (REVERSE DATE) UTF-8 ALL",
    },
    {
      label: "UID THREAD REFERENCES UTF-8 ALL, cold",
      before: (q) => `UID STORE 1 ${q % 2 ? "-" : "+"}FLAGS.SILENT (\\Flagged)`,
      command: () => "UID THREAD REFERENCES UTF-8 ALL",
    },
  ];
  const perRound = Math.max(1, Math.round(QUERIES / ROUNDS));
  type Stats = { ms: number[]; roundMedians: number[]; cpuMs: number[]; results: number[] };
  const stats = new Map<string, Stats>();
  const loads: number[] = [];
  const clients = new Map<string, Client>();
  for (const s of servers) clients.set(s.name, await Client.open(s.port, s.user));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...servers].reverse() : servers;
    for (const kind of kinds) {
      for (const s of order) {
        const key = `${s.name}|${kind.label}`;
        const st = stats.get(key) ?? { ms: [], roundMedians: [], cpuMs: [], results: [] };
        stats.set(key, st);
        const c = clients.get(s.name)!;
        const roundMs: number[] = [];
        const cpu0 = await s.cpu();
        for (let q = 0; q < perRound; q++) {
          if (kind.before) await c.command(kind.before(round * perRound + q));
          const t0 = performance.now();
          const answer = await c.command(kind.command(round * perRound + q));
          const ms = performance.now() - t0;
          roundMs.push(ms);
          st.ms.push(ms);
          st.results.push(resultCount(answer));
        }
        st.cpuMs.push((((await s.cpu()) - cpu0) * 1000) / perRound);
        st.roundMedians.push(summary(roundMs).median);
        loads.push(loadAverage1());
      }
    }
  }
  for (const c of clients.values()) c.close();
  const pct = (values: number[], p: number) => {
    const s = [...values].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
  };
  console.log(
    `search bench: ${N} messages (${(messageBytes.total / 1048576).toFixed(0)} MiB), ${perRound * ROUNDS} queries per kind and server over ${ROUNDS} rounds, load average ${summary(loads).min.toFixed(1)}-${summary(loads).max.toFixed(1)} on ${(await import("node:os")).cpus().length} cores`,
  );
  for (const n of notes) console.log(n);
  console.log(
    "| query | server | p50 ms | p99 ms | round medians min/median/max ms | CPU ms/query | results (sum) |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const kind of kinds) {
    for (const s of servers) {
      const st = stats.get(`${s.name}|${kind.label}`)!;
      const rm = summary(st.roundMedians);
      const cpu = summary(st.cpuMs);
      console.log(
        `| ${kind.label} | ${s.name} | ${pct(st.ms, 50).toFixed(1)} | ${pct(st.ms, 99).toFixed(1)} | ` +
          `${rm.min.toFixed(1)} / ${rm.median.toFixed(1)} / ${rm.max.toFixed(1)} | ${cpu.median.toFixed(1)} | ` +
          `${st.results.reduce((a, b) => a + b, 0)} |`,
      );
    }
  }
  for (const s of servers) {
    console.log(
      `${s.name} index: ${(s.indexBytes / 1048576).toFixed(1)} MiB = ${((100 * s.indexBytes) / messageBytes.total).toFixed(0)}% of the message bytes`,
    );
  }
  for (const s of servers) await s.stop();
}

await main();
