/**
 * Test fixtures: a runtime over the testkit backend (a fresh database, real or
 * embedded as TEST_DATABASE says, an s3rver bucket, optionally Redis and NATS
 * under unique prefixes), accounts with mail, and a raw-socket POP3 client that
 * reads exactly what the server wrote.
 */
import { connect, type Socket } from "node:net";
import { Delivery } from "@aerogram/delivery";
import type { Runtime } from "@aerogram/runtime";
import { startTestBackend, type TestBackend } from "@aerogram/testkit";

export { requireServers, serversReachable } from "@aerogram/testkit";

export type TestBackends = TestBackend<"s3">;

export function startBackends(opts: { redis?: boolean; nats?: boolean } = {}): Promise<TestBackends> {
  return startTestBackend({
    blobs: "s3",
    ...(opts.redis ? { redis: true } : {}),
    ...(opts.nats ? { nats: true } : {}),
    settings: { DATABASE_POOL_MAX: "4", MAIL_HOSTNAME: "pop3.test" },
  });
}

export function openRuntime(backends: TestBackends): Promise<Runtime> {
  return backends.runtime("pop3-test");
}

/** Creates an account and delivers `messages` to its INBOX in order. */
export async function accountWithMail(
  runtime: Runtime,
  address: string,
  password: string,
  messages: readonly (string | Buffer)[],
): Promise<{ accountId: number; inboxId: number }> {
  const account = await runtime.store.accounts.create({ address, password });
  const inbox = await runtime.store.mailboxes.byName(account.id, "INBOX");
  if (!inbox) throw new Error("no INBOX");
  const delivery = new Delivery({ store: runtime.store, blobs: runtime.blobs, events: runtime.events });
  for (const m of messages) {
    await delivery.deliver(typeof m === "string" ? Buffer.from(m, "latin1") : m, [{ mailboxId: inbox.id }]);
  }
  return { accountId: account.id, inboxId: inbox.id };
}

/** A simple message in CRLF form. */
export function message(n: number, body = `Body of message ${n}.\r\n`): string {
  return `From: sender@example.net\r\nTo: user@example.org\r\nSubject: message ${n}\r\nMessage-ID: <m${n}@example.net>\r\n\r\n${body}`;
}

/** A raw POP3 client: sends lines, reads lines and multi-line responses byte-exactly. */
export class RawClient {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on("error", () => {});
  }

  /** A client over an already connected socket (e.g. after a TLS upgrade). */
  static wrap(socket: Socket): RawClient {
    return new RawClient(socket);
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  private async waitFor<T>(take: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      if (this.closed)
        throw new Error(`connection closed; unread: ${JSON.stringify(this.buf.toString("latin1"))}`);
      if (Date.now() > deadline)
        throw new Error(`timed out; unread: ${JSON.stringify(this.buf.toString("latin1"))}`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 50);
      });
      this.waiter = undefined;
    }
  }

  /** One response line without its CRLF (asserts the CRLF). */
  line(): Promise<string> {
    return this.waitFor(() => {
      const i = this.buf.indexOf("\r\n");
      if (i === -1) return undefined;
      const l = this.buf.subarray(0, i).toString("latin1");
      this.buf = this.buf.subarray(i + 2);
      return l;
    });
  }

  /** The body of a multi-line response up to and including the ".\r\n" line, raw (still stuffed). */
  multilineRaw(): Promise<Buffer> {
    return this.waitFor(() => {
      if (this.buf.subarray(0, 3).equals(Buffer.from(".\r\n"))) {
        this.buf = this.buf.subarray(3);
        return Buffer.alloc(0);
      }
      const i = this.buf.indexOf("\r\n.\r\n");
      if (i === -1) return undefined;
      const body = this.buf.subarray(0, i + 2);
      this.buf = this.buf.subarray(i + 5);
      return Buffer.from(body);
    });
  }

  /** A multi-line body un-stuffed (RFC 1939 §3). */
  async multiline(): Promise<Buffer> {
    return unstuff(await this.multilineRaw());
  }

  /** Lines of a multi-line body. */
  async lines(): Promise<string[]> {
    const body = (await this.multiline()).toString("latin1");
    return body === "" ? [] : body.replace(/\r\n$/, "").split("\r\n");
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async cmd(line: string): Promise<string> {
    this.send(`${line}\r\n`);
    return this.line();
  }

  /** Resolves when the server closed the connection. */
  waitClosed(timeoutMs = 10_000): Promise<true> {
    return this.waitFor(() => (this.closed ? true : undefined), timeoutMs).catch((e) => {
      if (this.closed) return true as const;
      throw e;
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Removes byte-stuffing from a multi-line body (lines beginning ".." lose one "."). */
export function unstuff(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf("\r\n", start);
    end = end === -1 ? body.length : end + 2;
    const line = body.subarray(start, end);
    out.push(line[0] === 0x2e ? line.subarray(1) : line);
    start = end;
  }
  return Buffer.concat(out);
}

/** Logs in with USER/PASS and returns the +OK line. */
export async function login(c: RawClient, user: string, password: string): Promise<string> {
  const greeting = await c.line();
  if (!greeting.startsWith("+OK")) throw new Error(greeting);
  await c.cmd(`USER ${user}`);
  return c.cmd(`PASS ${password}`);
}
