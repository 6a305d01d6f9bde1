/**
 * Test fixtures: an SMTP-in service on a runtime over the testkit backend (its
 * own database, real or embedded as TEST_DATABASE says, s3rver bucket, NATS
 * subject prefix and Redis key prefix), and a raw-socket SMTP client for the
 * conversations nodemailer won't have.
 */
import { connect, type Socket } from "node:net";
import type { Readable } from "node:stream";
import { loadConfig } from "@aerogram/config";
import { createRuntime, type Runtime } from "@aerogram/runtime";
import {
  backendEnv,
  startTestBackend,
  type TestBackend,
  type TestDatabase,
  type TestS3,
} from "@aerogram/testkit";
import { type SmtpInOptions, SmtpInService } from "../src/index.ts";
import { optionsFromRuntime } from "../src/smtp-in.ts";

export interface Harness {
  runtime: Runtime;
  service: SmtpInService;
  port: number;
  backend: TestBackend<"s3">;
  close(): Promise<void>;
}

const SETTINGS = { DATABASE_POOL_MAX: "5", MAIL_HOSTNAME: "mx.test.example", SMTP_PORT: "0" };

/** The backend every SMTP-in test runs on: s3rver blobs, NATS and Redis. */
export function startSmtpBackend(): Promise<TestBackend<"s3">> {
  return startTestBackend({ blobs: "s3", nats: true, redis: true, settings: SETTINGS });
}

/** A runtime on a database and bucket the test manages itself (outage tests stop them). */
/** `env`: more variables (e.g. SMTP_* limits) on top of the test servers'. */
export async function runtimeFor(
  db: TestDatabase,
  s3: TestS3,
  service = "smtp-in-test",
  env: Record<string, string> = {},
): Promise<Runtime> {
  const vars = backendEnv({
    databaseUrl: db.url,
    s3,
    nats: true,
    redis: true,
    settings: { ...SETTINGS, ...env },
  });
  return createRuntime(loadConfig(vars), { service });
}

/** A service on an existing runtime (several may share one database). */
export async function startService(
  runtime: Runtime,
  overrides: Partial<SmtpInOptions> = {},
): Promise<{ service: SmtpInService; port: number; stop(): Promise<void> }> {
  const service = new SmtpInService(
    runtime,
    optionsFromRuntime(runtime, { authTimeBoxMs: 1000, ...overrides }),
  );
  const handle = await service.start();
  return { service, port: service.ports()[0]!, stop: () => handle.drain(0) };
}

export async function startHarness(overrides: Partial<SmtpInOptions> = {}): Promise<Harness> {
  const backend = await startSmtpBackend();
  const runtime = await backend.runtime("smtp-in-test");
  const { service, port, stop } = await startService(runtime, overrides);
  return {
    runtime,
    service,
    port,
    backend,
    async close() {
      await stop();
      await runtime.close();
      await backend.stop();
    },
  };
}

/** A raw SMTP conversation: send lines, read whole (multi-line) replies. */
export class SmtpTalk {
  private buffer = "";
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer += d.toString("latin1");
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => {});
  }

  static async open(port: number): Promise<SmtpTalk> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new SmtpTalk(socket);
  }

  /** The next complete reply (all its lines), or "" if the server closed first. */
  async reply(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return "";
      if (Date.now() > deadline) throw new Error(`no reply within ${timeoutMs} ms; buffer: ${this.buffer}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends a command line and returns its reply. */
  async cmd(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Greeting + EHLO, ready for MAIL FROM. */
export async function openSession(port: number, helo = "client.test.example"): Promise<SmtpTalk> {
  const t = await SmtpTalk.open(port);
  const greeting = await t.reply();
  if (!greeting.startsWith("220 ")) throw new Error(`unexpected greeting ${greeting}`);
  const ehlo = await t.cmd(`EHLO ${helo}`);
  if (!ehlo.startsWith("250")) throw new Error(`EHLO failed: ${ehlo}`);
  return t;
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The stored blob of the newest message in a mailbox. */
export async function readLatest(runtime: Runtime, mailboxId: number): Promise<{ uid: number; raw: Buffer }> {
  const { rows } = await runtime.store.pool.query<{ uid: number; blob_key: string }>(
    "SELECT uid, blob_key FROM messages WHERE mailbox_id = $1 ORDER BY uid DESC LIMIT 1",
    [mailboxId],
  );
  const row = rows[0];
  if (!row) throw new Error(`mailbox ${mailboxId} is empty`);
  return { uid: row.uid, raw: await collect(await runtime.blobs.get(row.blob_key)) };
}

export async function messageCount(runtime: Runtime, mailboxId: number): Promise<number> {
  const { rows } = await runtime.store.pool.query<{ n: number }>(
    "SELECT count(*)::bigint AS n FROM messages WHERE mailbox_id = $1",
    [mailboxId],
  );
  return rows[0]!.n;
}

/** Splits a stored message into our prepended header block and the rest (the message as sent). */
export function splitPrepended(raw: Buffer, original: Buffer): { prepended: string; rest: Buffer } {
  const at = raw.length - original.length;
  return {
    prepended: raw.subarray(0, Math.max(0, at)).toString("latin1"),
    rest: raw.subarray(Math.max(0, at)),
  };
}
