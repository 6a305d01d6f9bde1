/**
 * Test fixtures: a gateway over the testkit backend (a fresh database, real or
 * embedded as TEST_DATABASE says, an s3rver bucket, NATS under a unique subject
 * prefix when asked), accounts, and a raw IMAP client that returns exactly what
 * the server wrote.
 */
import { connect, type Socket } from "node:net";
import { after, before } from "node:test";
import type { Runtime } from "@aerogram/runtime";
import {
  cleanEnv,
  type RunningProcess,
  startTestBackend,
  startTsProcess,
  TEST_REDIS_URL,
  type TestBackend,
  uniqueId,
} from "@aerogram/testkit";
import { ImapServer } from "../src/server.ts";

export type Backends = TestBackend<"s3">;

export function startBackends(opts: { nats?: boolean } = {}): Promise<Backends> {
  return startTestBackend({
    blobs: "s3",
    ...(opts.nats ? { nats: true } : {}),
    settings: { LOG_LEVEL: "warn" },
  });
}

export interface Gateway {
  runtime: Runtime;
  server: ImapServer;
  port: number;
  close(): Promise<void>;
}

/**
 * One gateway on fresh backends for a whole test file: registers the file's
 * before/after hooks and returns the holder they fill.
 */
export function gatewayPerFile(): { gateway: Gateway; backends: Backends } {
  const fixture = {} as { gateway: Gateway; backends: Backends };
  before(async () => {
    fixture.backends = await startBackends();
    fixture.gateway = await startGateway(fixture.backends);
  });
  after(async () => {
    await fixture.gateway?.close();
    await fixture.backends?.stop();
  });
  return fixture;
}

export async function startGateway(backends: Backends): Promise<Gateway> {
  const runtime = await backends.runtime("imap-test", { IMAP_PORT: "0", BIND_ADDRESS: "127.0.0.1" });
  const server = new ImapServer(runtime);
  const endpoints = await server.listen({ port: 0, host: "127.0.0.1" });
  const port = Number(/:(\d+)/.exec(endpoints[0]!)![1]);
  return {
    runtime,
    server,
    port,
    async close() {
      server.close();
      await runtime.close();
    },
  };
}

/**
 * A second gateway in its own process: `npm start`'s entry point serving IMAP
 * only, on these backends (the shared Redis under its own key prefix), so what
 * crosses processes goes over NATS/Redis/PostgreSQL as in production.
 */
export async function startGatewayProcess(
  backends: Backends,
  env: Record<string, string> = {},
): Promise<{ process: RunningProcess; port: number }> {
  const child = startTsProcess(
    "services/aerogram/src/main.ts",
    [],
    cleanEnv({
      ...backends.env,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `t${uniqueId()}:`,
      AEROGRAM_SERVICES: "imap",
      IMAP_PORT: "0",
      HTTP_PORT: "0",
      BIND_ADDRESS: "127.0.0.1",
      ...env,
    }),
  );
  // A child process's start (tsx compile, migrations check) takes long on a loaded machine.
  try {
    const [, port] = await child.waitFor(/IMAP\s+127\.0\.0\.1:(\d+)/, 180_000);
    return { process: child, port: Number(port) };
  } catch (err) {
    await child.stop("SIGKILL").catch(() => {});
    throw err;
  }
}

export async function createAccount(
  runtime: Runtime,
  password = "secret-pass",
): Promise<{ user: string; pass: string; id: number }> {
  const user = `u${uniqueId()}@example.org`;
  const account = await runtime.store.accounts.create({ address: user, password });
  return { user, pass: password, id: account.id };
}

/** A raw IMAP client: writes lines, reads until the tagged response of a command. */
export class RawClient {
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #closed = false;
  #tag = 0;

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on("close", () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on("error", () => {});
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const client = new RawClient(socket);
    await client.readUntil((text) => text.includes("\r\n"));
    client.take();
    return client;
  }

  /** A client on a socket already connected (implicit TLS); reads the greeting. */
  static async over(socket: Socket): Promise<RawClient> {
    const client = new RawClient(socket);
    await client.readUntil((text) => text.includes("\r\n"));
    client.take();
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Waits until the buffered text satisfies `done` (or the connection closes / times out). */
  async readUntil(done: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.#buffer.toString("latin1"))) {
      if (this.#closed) break;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; have: ${JSON.stringify(this.#buffer.toString("latin1"))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#buffer.toString("latin1");
  }

  /** Returns and clears what was received so far. */
  take(): string {
    const text = this.#buffer.toString("latin1");
    this.#buffer = Buffer.alloc(0);
    return text;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends `tag command` and returns everything up to and including the tagged line. */
  async command(text: string, tag = `t${++this.#tag}`): Promise<string> {
    this.write(`${tag} ${text}\r\n`);
    return this.response(tag);
  }

  async response(tag: string): Promise<string> {
    const pattern = new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`);
    await this.readUntil((t) => pattern.test(t));
    const text = this.#buffer.toString("latin1");
    const match = pattern.exec(text);
    if (!match) return this.take();
    const end = match.index + match[0].length;
    this.#buffer = this.#buffer.subarray(Buffer.byteLength(text.slice(0, end), "latin1"));
    return text.slice(0, end);
  }

  async login(user: string, pass: string): Promise<string> {
    return this.command(`LOGIN "${user}" "${pass}"`);
  }

  close(): void {
    this.socket.destroy();
  }
}

export function message(subject: string, body = "Hello there\r\n", extra = ""): string {
  return `From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: ${subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <${subject.replace(/\W/g, "")}@example.org>\r\n${extra}\r\n${body}`;
}
