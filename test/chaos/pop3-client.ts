/**
 * A raw POP3 client for the outage tests: one command at a time, single-line
 * and multi-line answers (RFC 1939 §3: a multi-line answer ends with a line of
 * one "."; byte-stuffed lines are un-stuffed here), and the connection's end.
 */
import { connect, type Socket } from "node:net";

export interface Pop3Answer {
  /** "closed" when the connection ended first, "timeout" when nothing came in time. */
  status: "+OK" | "-ERR" | "closed" | "timeout";
  line: string;
  /** The lines of a multi-line answer, un-stuffed. */
  body: string[];
}

const TIMEOUT_MS = 45_000;

export class Pop3Client {
  closed = false;
  private buffer = "";
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer += d.toString("latin1");
      this.wake?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on("error", () => {});
  }

  /** Connects and reads the greeting (which is returned). */
  static async open(port: number): Promise<{ client: Pop3Client; greeting: Pop3Answer }> {
    const client = new Pop3Client(connect({ host: "127.0.0.1", port }));
    return { client, greeting: await client.read(false) };
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Sends a command; `multi` when a +OK answer to it has a body (LIST, UIDL, RETR without limits). */
  async command(line: string, multi = false): Promise<Pop3Answer> {
    // Closed already: what the server said before closing (an unsolicited -ERR) is the answer.
    if (this.closed) return this.read(multi);
    this.socket.write(`${line}\r\n`);
    return this.read(multi);
  }

  private async read(multi: boolean): Promise<Pop3Answer> {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const eol = this.buffer.indexOf("\r\n");
      if (eol >= 0) {
        const line = this.buffer.slice(0, eol);
        const status = line.startsWith("+OK") ? "+OK" : line.startsWith("-ERR") ? "-ERR" : undefined;
        if (!status) {
          this.destroy();
          return { status: "closed", line: `garbage: ${line.slice(0, 100)}`, body: [] };
        }
        if (!multi || status === "-ERR") {
          this.buffer = this.buffer.slice(eol + 2);
          return { status, line, body: [] };
        }
        const end = this.buffer.indexOf("\r\n.\r\n", eol);
        const empty = this.buffer.startsWith(".\r\n", eol + 2);
        if (empty || end >= 0) {
          const stop = empty ? eol : end;
          const text = this.buffer.slice(eol + 2, stop);
          this.buffer = this.buffer.slice(stop + 5);
          const body = empty ? [] : text.split("\r\n").map((l) => (l.startsWith("..") ? l.slice(1) : l));
          return { status, line, body };
        }
      }
      if (this.closed) return { status: "closed", line: "", body: [] };
      if (Date.now() > deadline) {
        this.destroy();
        return { status: "timeout", line: "", body: [] };
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 1000).unref();
      });
      this.wake = undefined;
    }
  }
}
