/**
 * `npm run bench:private-seen` (services/imap, issue 24): what per-user \Seen
 * costs. An owner's folder of BENCH_MESSAGES messages is shared "lrswi" with a
 * grantee; on Aerogram and on a private Dovecot with the acl plugin and
 * INDEXPVT private indexes (libs/testkit startPrivateDovecot({ acl: true })),
 * same run, alternating servers each round:
 *
 *   owner   UID STORE u +FLAGS.SILENT (\Seen) / -FLAGS.SILENT   (the real flag; baseline)
 *   grantee UID STORE u +FLAGS.SILENT (\Seen) / -FLAGS.SILENT   (the grantee's own \Seen)
 *   owner   UID FETCH 1:* (FLAGS)                              (baseline)
 *   grantee UID FETCH 1:* (FLAGS)                              (the grantee's \Seen on every row)
 *   grantee STATUS <shared> (UNSEEN)                           (counted for the grantee)
 *
 * Prints per operation and server: the min / median / max over the rounds of
 * the per-round median latency, CPU per operation (ms; Aerogram = this process,
 * which also runs the clients, plus its PostgreSQL backends; Dovecot = its
 * process tree; from /proc), Aerogram's SQL round trips per operation (every
 * pg Client.query of this process), and the load average.
 *
 * Environment: BENCH_MESSAGES=2000, BENCH_OPS=200 (per kind, server and round),
 * BENCH_ROUNDS=3, BENCH_SERVERS=aerogram,dovecot.
 * BENCH_SMOKE=1: 20 messages, 10 operations, one round, Aerogram only.
 */
import { connect, type Socket } from "node:net";
import { loadConfig } from "@aerogram/config";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import {
  benchKnob,
  benchSmoke,
  cpuSeconds,
  createTestDatabase,
  loadAverage1,
  type PrivateDovecot,
  postgresBackendPids,
  processTree,
  startPrivateDovecot,
  summary,
  TEST_DATABASE_URL,
  tempDir,
} from "@aerogram/testkit";
import pg from "pg";
import { ImapServer } from "../src/server.ts";

const SMOKE = benchSmoke();
const N = benchKnob("BENCH_MESSAGES", 2000, 20);
const OPS = benchKnob("BENCH_OPS", 200, 10);
const ROUNDS = benchKnob("BENCH_ROUNDS", 3, 1);
const SERVERS = (process.env.BENCH_SERVERS ?? (SMOKE ? "aerogram" : "aerogram,dovecot")).split(",");
const OWNER = "owner@example.org";
const GRANTEE = "grantee@example.org";
const PASSWORD = "bench-pass";
const SHARED = `"Other Users/${OWNER}/Team"`;

/** SQL round trips this process sends (every pg Client.query call). */
let sqlCalls = 0;
const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const originalQuery = proto.query;
proto.query = function (this: unknown, ...args: unknown[]) {
  sqlCalls++;
  return originalQuery.apply(this, args);
};

class Client {
  #text = "";
  #tag = 0;
  #wake: (() => void) | null = null;
  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.#text += d.toString("latin1");
      this.#wake?.();
    });
  }
  static async open(port: number, user: string): Promise<Client> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const c = new Client(socket);
    await c.#until(/\r\n/);
    c.#text = "";
    await c.ok(`LOGIN "${user}" "${PASSWORD}"`);
    return c;
  }
  async #until(pattern: RegExp): Promise<string> {
    while (!pattern.test(this.#text)) await new Promise<void>((r) => (this.#wake = r));
    return this.#text;
  }
  /** Sends a command; resolves with everything up to its tagged OK (throws on NO/BAD). */
  async ok(command: string, literal?: string): Promise<string> {
    const tag = `b${++this.#tag}`;
    this.socket.write(
      literal ? `${tag} ${command} {${literal.length}+}\r\n${literal}\r\n` : `${tag} ${command}\r\n`,
    );
    const text = await this.#until(new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`));
    this.#text = "";
    if (!new RegExp(`(^|\\r\\n)${tag} OK`).test(text)) throw new Error(`${command}: ${text.slice(-300)}`);
    return text;
  }
  close(): void {
    this.socket.destroy();
  }
}

function message(i: number): string {
  return `From: a@example.org\r\nTo: b@example.org\r\nSubject: message ${i}\r\nMessage-ID: <m${i}@example.org>\r\n\r\nbody ${i}\r\n`;
}

interface Server {
  name: string;
  port: number;
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

async function startAerogram(): Promise<Server> {
  const db = await createTestDatabase();
  const blobDir = await tempDir("private-seen-bench-");
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: db.url,
    BLOB_DIR: blobDir.path,
    DATA_DIR: blobDir.path,
    LOG_LEVEL: "warn",
    IMAP_PORT: "0",
  });
  const runtime: Runtime = await createRuntime(config, { service: "private-seen-bench" });
  for (const address of [OWNER, GRANTEE])
    await runtime.store.accounts.create({ address, password: PASSWORD });
  const server = new ImapServer(runtime);
  const endpoints = await server.listen({ port: 0, host: "127.0.0.1" });
  return {
    name: "aerogram",
    port: Number(/:(\d+)/.exec(endpoints[0]!)![1]),
    cpu: async () => {
      let s = process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
      for (const pid of await postgresBackendPids(TEST_DATABASE_URL, db.name)) s += cpuSeconds(pid);
      return s;
    },
    stop: async () => {
      server.close();
      await runtime.close();
      await db.drop();
      await blobDir.remove();
    },
  };
}

async function startDovecot(): Promise<Server> {
  const dovecot: PrivateDovecot = await startPrivateDovecot({
    protocols: ["imap"],
    users: [OWNER, GRANTEE],
    password: PASSWORD,
    acl: true,
  });
  return {
    name: "dovecot",
    port: dovecot.ports.imap!,
    cpu: async () => processTree(dovecot.pid).reduce((s, p) => s + cpuSeconds(p), 0),
    stop: () => dovecot.stop(),
  };
}

/** The owner's Team folder with N messages, shared "lrswi"; both sessions selected. */
async function prepare(server: Server): Promise<{ owner: Client; grantee: Client }> {
  const owner = await Client.open(server.port, OWNER);
  await owner.ok("CREATE Team");
  for (let i = 1; i <= N; i++) await owner.ok("APPEND Team", message(i));
  await owner.ok(`SETACL Team ${GRANTEE} lrswi`);
  await owner.ok("SELECT Team");
  // Dovecot's vfile ACL cache checks the file's mtime (1 s resolution).
  await new Promise((r) => setTimeout(r, 1100));
  const grantee = await Client.open(server.port, GRANTEE);
  await grantee.ok(`SELECT ${SHARED}`);
  return { owner, grantee };
}

type Kind =
  | "owner STORE \\Seen"
  | "grantee STORE \\Seen"
  | "owner FETCH 1:* FLAGS"
  | "grantee FETCH 1:* FLAGS"
  | "grantee STATUS UNSEEN";
const KINDS: Kind[] = [
  "owner STORE \\Seen",
  "grantee STORE \\Seen",
  "owner FETCH 1:* FLAGS",
  "grantee FETCH 1:* FLAGS",
  "grantee STATUS UNSEEN",
];

function command(kind: Kind, i: number): { who: "owner" | "grantee"; text: string } {
  const uid = (i % N) + 1;
  const op = Math.floor(i / N) % 2 === 0 ? "+FLAGS.SILENT" : "-FLAGS.SILENT";
  switch (kind) {
    case "owner STORE \\Seen":
      return { who: "owner", text: `UID STORE ${uid} ${op} (\\Seen)` };
    case "grantee STORE \\Seen":
      return { who: "grantee", text: `UID STORE ${uid} ${op} (\\Seen)` };
    case "owner FETCH 1:* FLAGS":
      return { who: "owner", text: "UID FETCH 1:* (FLAGS)" };
    case "grantee FETCH 1:* FLAGS":
      return { who: "grantee", text: "UID FETCH 1:* (FLAGS)" };
    case "grantee STATUS UNSEEN":
      return { who: "grantee", text: `STATUS ${SHARED} (UNSEEN)` };
  }
}

interface Stats {
  roundMedians: number[];
  cpuMs: number[];
  sql: number[];
}

async function main(): Promise<void> {
  const servers: Server[] = [];
  const sessions = new Map<string, { owner: Client; grantee: Client }>();
  for (const name of SERVERS) {
    const server = name === "dovecot" ? await startDovecot() : await startAerogram();
    servers.push(server);
    sessions.set(name, await prepare(server));
  }
  const stats = new Map<string, Stats>();
  const loads: number[] = [];
  const counter = new Map<string, number>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        const clients = sessions.get(server.name)!;
        for (const kind of KINDS) {
          const key = `${kind}|${server.name}`;
          const st = stats.get(key) ?? { roundMedians: [], cpuMs: [], sql: [] };
          stats.set(key, st);
          const ms: number[] = [];
          const cpu0 = await server.cpu();
          const sql0 = sqlCalls;
          for (let k = 0; k < OPS; k++) {
            const n = counter.get(key) ?? 0;
            counter.set(key, n + 1);
            const { who, text } = command(kind, n);
            const t0 = performance.now();
            await clients[who].ok(text);
            ms.push(performance.now() - t0);
          }
          st.cpuMs.push(((await server.cpu()) - cpu0) * (1000 / OPS));
          if (server.name === "aerogram") st.sql.push((sqlCalls - sql0) / OPS);
          st.roundMedians.push(summary(ms).median);
          loads.push(loadAverage1());
        }
      }
    }
  } finally {
    for (const c of sessions.values()) {
      c.owner.close();
      c.grantee.close();
    }
    for (const s of servers) await s.stop();
  }
  const l = summary(loads);
  console.log(
    `private-seen bench: ${N} messages shared lrswi, ${OPS} operations per kind, server and round, ${ROUNDS} rounds, load average ${l.min.toFixed(1)}-${l.max.toFixed(1)}`,
  );
  console.log(
    "operation                  server    latency ms min/median/max   CPU ms/op min/median/max   SQL/op",
  );
  for (const kind of KINDS) {
    for (const name of SERVERS) {
      const st = stats.get(`${kind}|${name}`)!;
      const r = summary(st.roundMedians);
      const c = summary(st.cpuMs);
      const sql = st.sql.length ? summary(st.sql).median.toFixed(1) : "-";
      console.log(
        `${kind.padEnd(26)} ${name.padEnd(9)} ${[r.min, r.median, r.max]
          .map((v) => v.toFixed(2))
          .join(" / ")
          .padEnd(27)} ${[c.min, c.median, c.max]
          .map((v) => v.toFixed(2))
          .join(" / ")
          .padEnd(26)} ${sql}`,
      );
    }
  }
}

await main();
