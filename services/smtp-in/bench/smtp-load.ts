/**
 * The bench's load generator: N concurrent SMTP senders, each on its own
 * persistent connection, sending MAIL/RCPT/DATA as fast as the server answers
 * (PIPELINING for the envelope), timing each message from the end of DATA
 * (the final ".") to the 250.
 */
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";

export interface LoadOptions {
  port: number;
  senders: number;
  durationMs: number;
  messageBytes: number;
  recipients: (sender: number, seq: number) => string[];
}

export interface LoadResult {
  messages: number;
  bytes: number;
  elapsedMs: number;
  latenciesMs: number[];
  failures: number;
}

class Conversation {
  private buffer = "";
  private wake: (() => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => {
      this.buffer += d.toString("latin1");
      this.wake?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => this.wake?.());
  }

  static async open(port: number): Promise<Conversation> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new Conversation(socket);
  }

  async reply(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[0].length);
        return m[0];
      }
      if (this.socket.destroyed) throw new Error("connection closed");
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }

  write(s: string | Buffer) {
    this.socket.write(s);
  }

  close() {
    this.socket.end("QUIT\r\n");
    this.socket.destroy();
  }
}

/** A plain-text message of about `bytes` octets, lines of 76 characters. */
export function makeMessage(bytes: number, id: string, to: string): string {
  const head =
    `From: Bench Sender <bench@sender.test>\r\nTo: ${to}\r\nSubject: bench ${id}\r\n` +
    `Message-ID: <${id}@sender.test>\r\nDate: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\n` +
    "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  const line = "The quick brown fox jumps over the lazy dog while the mail keeps flowing ok.\r\n";
  const body = line.repeat(Math.max(1, Math.ceil((bytes - head.length) / line.length)));
  return head + body;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let messages = 0;
  let bytes = 0;
  let failures = 0;
  const started = performance.now();
  const deadline = started + o.durationMs;
  const sender = async (n: number) => {
    const c = await Conversation.open(o.port);
    await c.reply();
    c.write(`EHLO sender${n}.bench.test\r\n`);
    await c.reply();
    for (let seq = 0; performance.now() < deadline; seq++) {
      const rcpts = o.recipients(n, seq);
      const id = `${process.pid}.${n}.${seq}.${Date.now()}`;
      const message = makeMessage(o.messageBytes, id, rcpts[0]!);
      c.write(`MAIL FROM:<bench@sender.test>\r\n${rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join("")}DATA\r\n`);
      let ok = (await c.reply()).startsWith("250");
      for (const _ of rcpts) ok = (await c.reply()).startsWith("250") && ok;
      const data = await c.reply();
      if (!data.startsWith("354")) {
        failures++;
        c.write("RSET\r\n");
        await c.reply();
        continue;
      }
      c.write(message);
      const t0 = performance.now();
      c.write(".\r\n");
      const final = await c.reply();
      const t1 = performance.now();
      if (ok && final.startsWith("250")) {
        messages++;
        bytes += message.length;
        latencies.push(t1 - t0);
      } else failures++;
    }
    c.close();
  };
  await Promise.all(Array.from({ length: o.senders }, (_, i) => sender(i)));
  return { messages, bytes, elapsedMs: performance.now() - started, latenciesMs: latencies, failures };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
