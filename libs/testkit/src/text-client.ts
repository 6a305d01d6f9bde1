/**
 * A raw text-protocol client for tests (SMTP, IMAP, POP3 alike): it keeps
 * everything the server wrote, waits for a pattern, and knows when the server
 * closed the connection.
 */
import { connect, type Socket } from "node:net";

export class TextClient {
  /** Server output not yet consumed by expect/say. */
  text = "";
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.text += d.toString("latin1");
    });
    socket.on("close", () => {
      this.closed = true;
    });
    socket.on("error", () => {});
  }

  /** `localAddress`: the source address (any of 127.0.0.0/8), e.g. to act as several clients' IPs. */
  static async open(port: number, host = "127.0.0.1", localAddress?: string): Promise<TextClient> {
    const socket = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new TextClient(socket);
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until the output matches `re`; returns the match and consumes the output through it. */
  async expect(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.text);
      if (m) {
        this.text = this.text.slice(m.index + m[0].length);
        return m[0];
      }
      if (this.closed || Date.now() > deadline)
        throw new Error(`expected ${re} (closed: ${this.closed}); got ${JSON.stringify(this.text)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sends `line` with CRLF (unless empty), then expect(re); the match without trailing white space. */
  async say(line: string, re: RegExp, timeoutMs = 15_000): Promise<string> {
    if (line) this.socket.write(`${line}\r\n`);
    return (await this.expect(re, timeoutMs)).trimEnd();
  }

  /** Resolves true once the server closed the connection, false after the timeout. */
  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }

  /** Sends a closing command (QUIT, LOGOUT) and waits for the server to close. */
  async quit(line: string, timeoutMs = 10_000): Promise<void> {
    this.socket.write(`${line}\r\n`);
    await this.waitClosed(timeoutMs);
  }
}
