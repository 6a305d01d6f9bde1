/**
 * The session server's own cost, without the mail services around it: C `pg`
 * pool clients run Q single-statement queries (`SELECT $1::int`) and T small
 * transactions (BEGIN, UPDATE, SELECT, COMMIT) against a fresh embedded
 * database, through our session server and — with `--compare <node_modules>`
 * pointing at a tree that still has @electric-sql/pglite-socket — through the
 * stock adapter, alternating, for `--rounds` rounds. Prints queries/s and
 * transactions/s, min/median/max, and how many answers were wrong (the stock
 * adapter's shared session mixes them up under concurrency).
 *
 *   node --import tsx libs/embedded-pg/bench/adapter.ts [--clients 8] [--queries 2000]
 *        [--transactions 400] [--rounds 3] [--compare /tmp/ag-before/node_modules] [--smoke]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { SessionServer } from "../src/session-server.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "8" },
    queries: { type: "string", default: "2000" },
    transactions: { type: "string", default: "400" },
    rounds: { type: "string", default: "3" },
    compare: { type: "string" },
    smoke: { type: "boolean", default: false },
  },
});
const smoke = values.smoke;
const clients = smoke ? 2 : Number(values.clients);
const queries = smoke ? 50 : Number(values.queries);
const transactions = smoke ? 10 : Number(values.transactions);
const rounds = smoke ? 1 : Number(values.rounds);

interface Served {
  port: number;
  stop(): Promise<void>;
}
type Adapter = { name: string; serve(db: PGlite): Promise<Served> };

const ours: Adapter = {
  name: "session server",
  async serve(db) {
    const s = new SessionServer({ db, host: "127.0.0.1", port: 0 });
    const port = await s.start();
    return { port, stop: () => s.stop() };
  },
};

async function stock(nodeModules: string): Promise<Adapter> {
  const mod = (await import(join(nodeModules, "@electric-sql/pglite-socket/dist/index.js"))) as {
    PGLiteSocketServer: new (
      o: object,
    ) => { start(): Promise<void>; stop(): Promise<void>; getServerConn(): string };
  };
  return {
    name: "pglite-socket",
    async serve(db) {
      const s = new mod.PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 100 });
      await s.start();
      return { port: Number(s.getServerConn().split(":").pop()), stop: () => s.stop() };
    },
  };
}

async function round(adapter: Adapter) {
  const dir = await mkdtemp(join(tmpdir(), "aerogram-adapter-"));
  const db = await PGlite.create(join(dir, "pg"));
  const served = await adapter.serve(db);
  const pool = new pg.Pool({
    connectionString: `postgres://postgres@127.0.0.1:${served.port}/postgres`,
    max: clients,
  });
  pool.on("error", () => {});
  let wrong = 0;
  try {
    await pool.query("CREATE TABLE c (id int PRIMARY KEY, n int NOT NULL)");
    await pool.query("INSERT INTO c SELECT g, 0 FROM generate_series(0, 63) g");
    await Promise.all(Array.from({ length: clients }, () => pool.query("SELECT 1"))); // open every connection
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < queries) {
          const i = next++;
          const r = await pool.query<{ v: number }>("SELECT $1::int AS v", [i]).catch(() => undefined);
          if (r?.rows[0]?.v !== i) wrong++;
        }
      }),
    );
    const qps = queries / ((performance.now() - t0) / 1000);
    let tx = 0;
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (tx < transactions) {
          const id = tx++ % 64;
          const c = await pool.connect();
          try {
            await c.query("BEGIN");
            await c.query("UPDATE c SET n = n + 1 WHERE id = $1", [id]);
            await c.query("SELECT n FROM c WHERE id = $1", [id]);
            await c.query("COMMIT");
          } catch {
            wrong++;
            await c.query("ROLLBACK").catch(() => {});
          } finally {
            c.release();
          }
        }
      }),
    );
    const tps = transactions / ((performance.now() - t1) / 1000);
    const total = await pool.query<{ s: string }>("SELECT sum(n)::text AS s FROM c").catch(() => undefined);
    if (Number(total?.rows[0]?.s) !== transactions) wrong++;
    return { qps, tps, wrong };
  } finally {
    await pool.end();
    await served.stop();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const adapters = [ours, ...(values.compare ? [await stock(values.compare)] : [])];
const results = new Map(adapters.map((a) => [a.name, [] as { qps: number; tps: number; wrong: number }[]]));
for (let r = 0; r < rounds; r++) {
  for (const a of r % 2 === 0 ? adapters : [...adapters].reverse()) {
    const x = await round(a);
    results.get(a.name)!.push(x);
    console.log(
      `round ${r + 1} ${a.name}: ${x.qps.toFixed(0)} queries/s, ${x.tps.toFixed(0)} transactions/s, ${x.wrong} wrong, load ${loadavg()[0]!.toFixed(1)}`,
    );
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mmm = (xs: number[]) =>
  `${Math.min(...xs).toFixed(0)} / ${med(xs).toFixed(0)} / ${Math.max(...xs).toFixed(0)}`;
console.log(`\n${clients} clients, ${queries} queries, ${transactions} transactions, ${rounds} rounds`);
console.log("| adapter | queries/s min / median / max | transactions/s min / median / max | wrong answers |");
console.log("| --- | --- | --- | --- |");
for (const [name, xs] of results) {
  console.log(
    `| ${name} | ${mmm(xs.map((x) => x.qps))} | ${mmm(xs.map((x) => x.tps))} | ${xs.reduce((s, x) => s + x.wrong, 0)} |`,
  );
}
if (results.get(ours.name)!.some((x) => x.wrong > 0)) {
  console.error("the session server gave wrong answers");
  process.exit(1);
}
