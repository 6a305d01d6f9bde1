/**
 * Plain-socket mail clients for load against a running `npm start`: SMTP
 * senders that record every reply code, and line-level POP3/IMAP sessions.
 * Used by the concurrent-delivery test and the embedded-delivery bench.
 */
import { connect, type Socket } from "node:net";

/** A socket read line by line (CRLF), with "read until" helpers. */
export class LineSocket {
  private buffer = "";
  private waiter: (() => void) | undefined;
  private ended = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      this.buffer += d;
      this.waiter?.();
    });
    const end = () => {
      this.ended = true;
      this.waiter?.();
    };
    socket.on("close", end);
    socket.on("error", end);
  }

  static open(port: number): Promise<LineSocket> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port }, () => resolve(new LineSocket(s)));
      s.once("error", reject);
    });
  }

  /** Reads until `done(buffer)` returns the length to consume; rejects when the peer closes first. */
  async readUntil(done: (buffer: string) => number): Promise<string> {
    for (;;) {
      const n = done(this.buffer);
      if (n > 0) {
        const out = this.buffer.slice(0, n);
        this.buffer = this.buffer.slice(n);
        return out;
      }
      if (this.ended)
        throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer.slice(0, 200))}`);
      await new Promise<void>((r) => {
        this.waiter = r;
      });
    }
  }

  write(data: string): void {
    this.socket.write(data, "latin1");
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One SMTP reply (all its lines); returns "250 ..." style last line's code + text. */
async function smtpReply(c: LineSocket): Promise<string> {
  return c.readUntil((b) => {
    // A reply ends with a line "NNN text" (no hyphen after the code), RFC 5321 §4.2.1.
    const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(b);
    return m ? m.index + m[0].length : 0;
  });
}

const lastLine = (reply: string) => reply.trimEnd().split("\r\n").pop() ?? "";

export interface SenderResult {
  /** The final reply to each message's DATA (after the dot), or the error that ended it. */
  answers: string[];
}

/**
 * One SMTP session delivering `count` messages to `rcpt`, each with a unique
 * Subject `${tag}-${i}`; a refused RCPT/MAIL is recorded as the answer.
 */
export async function sendMessages(
  port: number,
  rcpt: string,
  tag: string,
  count: number,
): Promise<SenderResult> {
  const answers: string[] = [];
  let c: LineSocket | undefined;
  try {
    c = await LineSocket.open(port);
    const s = c;
    const cmd = async (line: string) => {
      s.write(`${line}\r\n`);
      return lastLine(await smtpReply(s));
    };
    const greeting = lastLine(await smtpReply(s));
    if (!greeting.startsWith("220")) throw new Error(`greeting: ${greeting}`);
    const ehlo = await cmd("EHLO load.example.net");
    if (!ehlo.startsWith("250")) throw new Error(`EHLO: ${ehlo}`);
    for (let i = 0; i < count; i++) {
      const mail = await cmd("MAIL FROM:<sender@load.example.net>");
      if (!mail.startsWith("250")) {
        answers.push(`MAIL ${mail}`);
        await cmd("RSET");
        continue;
      }
      const to = await cmd(`RCPT TO:<${rcpt}>`);
      if (!to.startsWith("250")) {
        answers.push(`RCPT ${to}`);
        await cmd("RSET");
        continue;
      }
      const data = await cmd("DATA");
      if (!data.startsWith("354")) {
        answers.push(`DATA ${data}`);
        continue;
      }
      const body = [
        "From: Load <sender@load.example.net>",
        `To: ${rcpt}`,
        `Subject: ${tag}-${i}`,
        `Message-ID: <${tag}-${i}@load.example.net>`,
        "",
        `message ${i} of ${tag}`,
        ...Array.from({ length: 20 }, (_, k) => `line ${k} ${"x".repeat(60)}`),
        ".",
        "",
      ].join("\r\n");
      s.write(body);
      answers.push(lastLine(await smtpReply(s)));
    }
    await cmd("QUIT").catch(() => "");
  } catch (err) {
    answers.push(`error: ${(err as Error).message}`);
  } finally {
    c?.close();
  }
  return { answers };
}

/** A POP3 session (RFC 1939): single-line and multi-line responses. */
export class Pop3Session {
  private constructor(private readonly c: LineSocket) {}

  static async open(port: number): Promise<Pop3Session> {
    const c = await LineSocket.open(port);
    const s = new Pop3Session(c);
    const greeting = await s.read(false);
    if (!greeting.startsWith("+OK")) throw new Error(`POP3 greeting: ${greeting}`);
    return s;
  }

  read(multi: boolean): Promise<string> {
    return this.c.readUntil((b) => {
      const first = b.indexOf("\r\n");
      if (first < 0) return 0;
      if (!multi || !b.startsWith("+OK")) return first + 2;
      if (b.startsWith(".\r\n", first + 2)) return first + 5;
      const end = b.indexOf("\r\n.\r\n", first);
      return end < 0 ? 0 : end + 5;
    });
  }

  cmd(line: string, multi = false): Promise<string> {
    this.c.write(`${line}\r\n`);
    return this.read(multi);
  }

  close(): void {
    this.c.close();
  }
}

/** A minimal IMAP client: tagged commands, the whole response text up to the tagged line. */
export class ImapSession {
  private n = 0;
  private constructor(private readonly c: LineSocket) {}

  static async open(port: number): Promise<ImapSession> {
    const c = await LineSocket.open(port);
    const s = new ImapSession(c);
    await c.readUntil((b) => (b.indexOf("\r\n") >= 0 ? b.indexOf("\r\n") + 2 : 0));
    return s;
  }

  /** Sends a command; resolves with everything up to and including its tagged completion. */
  async cmd(command: string): Promise<{ status: string; text: string }> {
    const tag = `a${++this.n}`;
    this.c.write(`${tag} ${command}\r\n`);
    const text = await this.c.readUntil((b) => {
      const m = new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`).exec(b);
      return m ? m.index + m[0].length : 0;
    });
    const status = new RegExp(`${tag} (OK|NO|BAD)`).exec(text)![1]!;
    return { status, text };
  }

  close(): void {
    this.c.close();
  }
}
