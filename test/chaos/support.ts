/**
 * Shared pieces of the chaos suite: its knobs (short form in `npm test`, full
 * form with CHAOS_FULL=1 from `npm run chaos:full`), the summary every test
 * appends to, free ports, and a small SMTP client that behaves like an MTA
 * (one connection per message, a 4xx or a dropped connection means "retry").
 */
import { appendFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";

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

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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
