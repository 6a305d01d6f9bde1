/**
 * Shared pieces of the chaos suite: its knobs (short form in `npm test`, full
 * form with CHAOS_FULL=1 from `npm run chaos:full`), the summary every test
 * appends to, free ports, and a small SMTP client that behaves like an MTA
 * (one connection per message, a 4xx or a dropped connection means "retry").
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@aerogram/testkit";
import pg from "pg";
import S3rver from "s3rver";

export const FULL = process.env.CHAOS_FULL === "1";

/** An integer knob from the environment, with its short- and full-form defaults. */
export function knob(name: string, short: number, full: number): number {
  const v = process.env[name];
  if (v !== undefined && v !== "") {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${v}`);
    return n;
  }
  return FULL ? full : short;
}

/** fast-check runs per property (FUZZ_RUNS overrides both forms). */
export const FUZZ_RUNS = knob("FUZZ_RUNS", 300, 20_000);

/**
 * Records one line of the suite's summary: printed as a test diagnostic and,
 * when CHAOS_SUMMARY_FILE is set (run.ts sets it), appended there as JSON.
 */
export function report(section: string, counts: Record<string, number | string>): void {
  const line = `${section}: ${Object.entries(counts)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`;
  console.log(`[chaos] ${line}`);
  const file = process.env.CHAOS_SUMMARY_FILE;
  if (file) appendFileSync(file, `${JSON.stringify({ section, ...counts })}\n`);
}

/** A loopback port nobody listens on right now (libs/testkit's). */
export { freePort };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether something accepts TCP connections on a loopback port right now. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Waits (bounded) until a loopback port accepts connections (`up`) or refuses them. */
export async function waitListening(port: number, up: boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await listening(port)) !== up) {
    if (Date.now() > deadline) throw new Error(`port ${port} did not go ${up ? "up" : "down"}`);
    await sleep(50);
  }
}

/** Whether a server binary that answers `--version` is installed. */
export const binaryAvailable = (bin: string) =>
  spawnSync(bin, ["--version"], { stdio: "ignore" }).status === 0;

/** A server binary we start and stop (kill -9) ourselves: nats-server, redis-server. */
export function binaryServer(command: string, args: string[]) {
  let child: ChildProcess | undefined;
  return {
    start() {
      child = spawn(command, args, { stdio: "ignore" });
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * A binary server on a free loopback port that the caller stops (kill -9) and
 * starts again on the same port; start and stop return once the port is up or down.
 */
async function privateBinaryServer(command: string, args: (port: number) => string[]) {
  const port = await freePort();
  const server = binaryServer(command, args(port));
  return {
    port,
    async start() {
      server.start();
      await waitListening(port, true);
    },
    async stop() {
      await server.stop();
      await waitListening(port, false);
    },
  };
}

/** A private nats-server on a free port (the machine's shared one is never touched). */
export async function privateNats() {
  const server = await privateBinaryServer("nats-server", (port) => ["-a", "127.0.0.1", "-p", String(port)]);
  return { url: `nats://127.0.0.1:${server.port}`, start: server.start, stop: server.stop };
}

/** A private redis-server without persistence: a restart forgets every key (leases, counters). */
export async function privateRedis() {
  const server = await privateBinaryServer("redis-server", (port) => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ]);
  return { url: `redis://127.0.0.1:${server.port}`, start: server.start, stop: server.stop };
}

/** An s3rver with one bucket that can be stopped and started again on the same port and files. */
export async function restartableS3(bucket: string) {
  const directory = await mkdtemp(join(tmpdir(), "aerogram-chaos-s3-"));
  const port = await freePort();
  let server: S3rver | undefined;
  return {
    options: {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      region: "us-east-1",
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
    },
    async start() {
      server = new S3rver({
        address: "127.0.0.1",
        port,
        silent: true,
        directory,
        configureBuckets: [{ name: bucket, configs: [] }],
      });
      await server.run();
    },
    /**
     * A real outage: close() alone only stops accepting, and keeps serving
     * the clients' keep-alive connections until they go idle (never, under load).
     */
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      const closed = s.close();
      s.httpServer?.closeAllConnections();
      await closed;
    },
    async remove() {
      await this.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export const POSTGRES_BIN = "/usr/lib/postgresql/15/bin";

const isRoot = process.getuid?.() === 0;

/** Whether the PostgreSQL server binaries (and, as root, the `postgres` user to run them as) exist. */
export function postgresAvailable(): boolean {
  return (
    existsSync(join(POSTGRES_BIN, "initdb")) &&
    existsSync(join(POSTGRES_BIN, "postgres")) &&
    (!isRoot || spawnSync("id", ["-u", "postgres"], { stdio: "ignore" }).status === 0)
  );
}

/**
 * A PostgreSQL cluster of our own (initdb into a temp dir, trust auth, a free
 * port, its socket in the same dir) so a test can restart it; the machine's
 * shared server on 5432 is never touched. initdb and postgres refuse to run as
 * root, so as root both run as the `postgres` user (runuser), which then owns
 * the directory; as anyone else they run as that user.
 */
export async function privatePostgres() {
  const dir = await mkdtemp(join(tmpdir(), "aerogram-chaos-pg-"));
  if (isRoot) {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString().trim());
    await chown(dir, id("-u"), id("-g"));
  }
  const data = join(dir, "data");
  /** The command and arguments that run a server binary as the right user. */
  const command = (bin: string, args: string[]): [string, string[]] =>
    isRoot
      ? ["runuser", ["-u", "postgres", "--", join(POSTGRES_BIN, bin), ...args]]
      : [join(POSTGRES_BIN, bin), args];
  execFileSync(...command("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]), {
    stdio: "ignore",
  });
  const port = await freePort();
  let child: ChildProcess | undefined;
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  /** Resolves once the server accepts queries (after crash recovery, too). */
  const ready = async (timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
      c.on("error", () => {});
      try {
        await c.connect();
        await c.query("SELECT 1");
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`private postgres did not come up: ${err}`);
        await sleep(100);
      } finally {
        await c.end().catch(() => {});
      }
    }
  };
  /** The postmaster's pid: as root the child we spawned is runuser, which doesn't forward every signal. */
  const postmasterPid = () => {
    const file = join(data, "postmaster.pid");
    return existsSync(file) ? Number(readFileSync(file, "utf8").split("\n")[0]) : undefined;
  };
  return {
    port,
    dir,
    /** A URL of database `name` on this cluster. */
    url: (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`,
    async start() {
      child = spawn(
        ...command("postgres", [
          "-D",
          data,
          "-p",
          String(port),
          "-k",
          dir,
          "-c",
          "listen_addresses=127.0.0.1",
        ]),
        { stdio: "ignore" },
      );
      await ready();
    },
    async createDatabase(name: string) {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
    },
    /**
     * Stops the server: "immediate" (SIGQUIT: every backend dies at once, crash
     * recovery at the next start, like a crashed or OOM-killed server) or
     * "fast" (SIGINT: sessions are terminated, then a clean shutdown).
     */
    async stop(mode: "immediate" | "fast" = "immediate") {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      const pid = postmasterPid();
      if (pid) process.kill(pid, mode === "immediate" ? "SIGQUIT" : "SIGINT");
      else c.kill("SIGINT");
      await exited;
      await waitListening(port, false);
    },
    async remove() {
      await this.stop("fast");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Reads whole SMTP replies (multi-line aware) from a socket. */
export class ReplyReader {
  private buffer = "";
  private waiter: (() => void) | undefined;
  closed = false;

  constructor(socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer += d.toString("latin1");
      this.waiter?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on("error", () => {});
  }

  /** The next reply, or undefined when the connection closed first. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return undefined;
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = undefined;
    }
  }
}

export type AttemptOutcome =
  | { kind: "ack"; reply: string }
  | { kind: "temporary"; reply: string }
  | { kind: "permanent"; reply: string }
  | { kind: "dropped"; reason: string };

/** SMTP dot-stuffing of a message that ends with CRLF, plus the terminator. */
export function dotStuff(message: Buffer): Buffer {
  const text = message.toString("latin1").replace(/(^|\r\n)\./g, "$1..");
  return Buffer.from(`${text}.\r\n`, "latin1");
}

/**
 * One SMTP transaction on a fresh connection. Every way it can go wrong maps
 * to what an MTA does next: "ack" (done), "temporary" (4xx: retry later),
 * "permanent" (5xx: bounce), "dropped" (connection refused/reset/timed out:
 * retry, the outcome of an unanswered DATA is unknown).
 */
export async function smtpAttempt(opts: {
  port: number;
  localAddress?: string;
  from: string;
  to: readonly string[];
  message: Buffer;
  timeoutMs: number;
}): Promise<AttemptOutcome> {
  const socket = connect({
    host: "127.0.0.1",
    port: opts.port,
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
  });
  const reader = new ReplyReader(socket);
  let failure = "closed";
  socket.on("error", (err) => {
    failure = (err as NodeJS.ErrnoException).code ?? err.message;
  });
  socket.setTimeout(opts.timeoutMs, () => {
    failure = "timeout";
    socket.destroy();
  });
  const expect = async (code: string): Promise<AttemptOutcome | undefined> => {
    const reply = await reader.next();
    if (reply === undefined) return { kind: "dropped", reason: failure };
    if (reply.startsWith(code)) return undefined;
    return { kind: reply.startsWith("4") ? "temporary" : "permanent", reply };
  };
  const send = (line: string | Buffer) => {
    if (!socket.destroyed) socket.write(line);
  };
  try {
    // Each step: what to send (nothing for the greeting) and the reply that lets us go on.
    const steps: [string | undefined, string][] = [
      [undefined, "220"],
      ["EHLO chaos.client.test", "250"],
      [`MAIL FROM:<${opts.from}>`, "250"],
      // A refused recipient aborts the whole attempt (retried later for all): simpler than
      // per-recipient retry and never splits one message across attempts.
      ...opts.to.map((rcpt): [string, string] => [`RCPT TO:<${rcpt}>`, "250"]),
      ["DATA", "354"],
    ];
    for (const [line, code] of steps) {
      if (line !== undefined) send(`${line}\r\n`);
      const bad = await expect(code);
      if (bad) return bad;
    }
    send(dotStuff(opts.message));
    const final = await reader.next();
    if (final === undefined) return { kind: "dropped", reason: `after DATA: ${failure}` };
    send("QUIT\r\n");
    if (final.startsWith("250")) return { kind: "ack", reply: final };
    return { kind: final.startsWith("4") ? "temporary" : "permanent", reply: final };
  } finally {
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
