/**
 * A raw IMAP client for the outage tests that keeps the mailbox view the way a
 * client must (RFC 9051 §7.4-7.5): EXISTS appends messages (UID unknown until
 * a FETCH says it), EXPUNGE n removes message n and renumbers the rest, an
 * untagged FETCH sets a message's UID and flags. Nothing is taken from the
 * tagged answers, so the tracked view is exactly what the untagged responses
 * the server sent add up to, and can be compared with a fresh SELECT and the
 * database afterwards.
 *
 * Every tagged answer, BYE and dropped connection is classified: "ok",
 * "temporary" (NO [UNAVAILABLE], BYE [UNAVAILABLE]: the server says try again)
 * or "other" (BAD, another NO, a dropped connection without BYE, no answer in
 * time). Protocol violations in untagged data (EXPUNGE or FETCH of a message
 * number beyond EXISTS, EXISTS shrinking, a UID that changes) go to `problems`.
 */
import { connect, type Socket } from "node:net";
import { sleep } from "./support.ts";

export type ReplyKind = "ok" | "temporary" | "other";

export interface Tagged {
  status: "OK" | "NO" | "BAD" | "closed" | "timeout";
  line: string;
  /** Untagged responses received while the command ran (FETCH, SEARCH, ...). */
  untagged: string[];
}

export interface TrackedMessage {
  uid: number; // 0 = not told yet
  flags: string[] | null; // null = not told yet
}

export function classify(t: Tagged): ReplyKind {
  if (t.status === "OK") return "ok";
  if (t.status === "NO" && /^\S+ NO \[UNAVAILABLE\]/i.test(t.line)) return "temporary";
  return "other";
}

/** Flags in a FETCH response, without \Recent (a per-session flag the database doesn't keep), sorted. */
export function normaliseFlags(flags: readonly string[]): string[] {
  return flags.filter((f) => f.toLowerCase() !== "\\recent").sort();
}

const COMMAND_TIMEOUT_MS = 45_000;

export class ImapViewClient {
  readonly view: TrackedMessage[] = [];
  readonly problems: string[] = [];
  /** Untagged responses that changed the view (EXISTS/EXPUNGE/FETCH), ever. */
  changes = 0;
  /** The command whose answer brought the last EXISTS ("IDLE", "FETCH 3:* (UID FLAGS)", ...): for diagnostics. */
  lastExistsWith = "";
  bye: string | undefined;
  closed = false;
  selected = false;
  private buffer = "";
  private tagSeq = 0;
  private pending:
    | { tag: string; text: string; untagged: string[]; resolve: (t: Tagged) => void }
    | undefined;
  private continuation: (() => void) | undefined;
  private greeting: ((line: string | undefined) => void) | undefined;
  private greeted: string | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer += d.toString("latin1");
      this.parse();
    });
    socket.on("close", () => {
      this.closed = true;
      this.greeting?.(undefined);
      const p = this.pending;
      this.pending = undefined;
      p?.resolve({ status: "closed", line: this.bye ?? "", untagged: p.untagged });
      this.continuation?.();
    });
    socket.on("error", () => {});
  }

  /** Connects and reads the greeting; undefined when refused or closed first. */
  static async open(port: number): Promise<ImapViewClient | undefined> {
    const socket = connect({ host: "127.0.0.1", port });
    const client = new ImapViewClient(socket);
    const line = await new Promise<string | undefined>((resolve) => {
      client.greeting = resolve;
      if (client.greeted !== undefined) resolve(client.greeted);
      setTimeout(() => resolve(undefined), 15_000).unref();
    });
    if (!line?.startsWith("* OK")) {
      client.destroy();
      return undefined;
    }
    return client;
  }

  /** Closes the connection from our side; `closed` at once. */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** UIDs of the tracked view in sequence order (0 where not known yet). */
  uids(): number[] {
    return this.view.map((m) => m.uid);
  }

  maxKnownUid(): number {
    let max = 0;
    for (const m of this.view) if (m.uid > max) max = m.uid;
    return max;
  }

  unknownUids(): boolean {
    return this.view.some((m) => m.uid === 0 || m.flags === null);
  }

  /**
   * FETCHes the messages whose UID or flags the session has not been told yet
   * (announced by EXISTS); OK when there were none. `note` classifies the answer.
   */
  async learn(note: (what: string, answer: Tagged) => boolean): Promise<boolean> {
    const first = this.view.findIndex((m) => m.uid === 0 || m.flags === null);
    if (first < 0) return true;
    return note("learn", await this.command(`FETCH ${first + 1}:* (UID FLAGS)`));
  }

  /**
   * One round of a client that waits in IDLE and learns new messages' UIDs
   * after each push. An EXISTS may come with the answer to any command, the
   * learning FETCH's own included (a delivery that lands while it runs:
   * RFC 9051 §7.4.1, §5.2), and IDLE does not repeat what was already
   * reported; so what is still unknown is learnt first (else the session
   * would wait in IDLE for a change it was told about already). IDLE starts
   * when the view is fully known, or when the FETCH had nothing for some
   * announced message: another session expunged it, and the server answers
   * OK [EXPUNGEISSUED] without its data (RFC 2180 §4.1.3) since the EXPUNGE
   * may not come with a FETCH by sequence number (RFC 9051 §7.5.1); IDLE lets
   * it through (FETCHing again would spin). False when a command was not
   * answered OK.
   */
  async idleRound(
    maxMs: number,
    stop: () => boolean,
    note: (what: string, answer: Tagged) => boolean,
  ): Promise<boolean> {
    if (this.unknownUids()) {
      const length = this.view.length;
      if (!(await this.learn(note))) return false;
      if (this.view.length > length || !this.unknownUids()) return true;
    }
    const before = this.changes;
    const idled = note("IDLE", await this.idle(maxMs, () => this.changes > before || stop()));
    return (await this.learn(note)) && idled;
  }

  /** Sends a command and waits for its tagged answer (or the connection's end, or a timeout). */
  command(text: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<Tagged> {
    if (this.closed) return Promise.resolve({ status: "closed", line: this.bye ?? "", untagged: [] });
    const tag = `c${++this.tagSeq}`;
    return new Promise<Tagged>((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending?.tag !== tag) return;
        const p = this.pending;
        this.pending = undefined;
        resolve({ status: "timeout", line: `${tag} (no answer in ${timeoutMs} ms)`, untagged: p.untagged });
        this.socket.destroy();
      }, timeoutMs);
      this.pending = {
        tag,
        text,
        untagged: [],
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      };
      this.socket.write(`${tag} ${text}\r\n`);
    });
  }

  /**
   * IDLE (RFC 2177) until `until` says so after an untagged response, or
   * `maxMs` passed, then DONE; resolves with IDLE's tagged answer.
   */
  async idle(maxMs: number, until: () => boolean): Promise<Tagged> {
    if (this.closed) return { status: "closed", line: this.bye ?? "", untagged: [] };
    const started = new Promise<void>((resolve) => {
      this.continuation = resolve;
    });
    const answer = this.command("IDLE", maxMs + COMMAND_TIMEOUT_MS);
    const first = await Promise.race([started.then(() => "continued" as const), answer]);
    this.continuation = undefined;
    if (first !== "continued") return first; // NO/BAD (or closed) instead of "+ idling"
    const deadline = Date.now() + maxMs;
    while (!this.closed && !until() && Date.now() < deadline) await sleep(25);
    if (!this.closed) this.socket.write("DONE\r\n");
    return answer;
  }

  private parse(): void {
    for (;;) {
      const line = this.nextLine();
      if (line === undefined) return;
      this.onLine(line);
    }
  }

  /** One response line, literals included (`{n}` then n octets), without the final CRLF. */
  private nextLine(): string | undefined {
    let at = 0;
    for (;;) {
      const eol = this.buffer.indexOf("\r\n", at);
      if (eol < 0) return undefined;
      const literal = /\{(\d+)\+?\}$/.exec(this.buffer.slice(at, eol));
      if (!literal) {
        const line = this.buffer.slice(0, eol);
        this.buffer = this.buffer.slice(eol + 2);
        return line;
      }
      const end = eol + 2 + Number(literal[1]);
      if (this.buffer.length < end) return undefined;
      at = end;
    }
  }

  private onLine(line: string): void {
    if (this.greeted === undefined) {
      this.greeted = line;
      const greeting = this.greeting;
      this.greeting = undefined;
      greeting?.(line);
      return;
    }
    if (line.startsWith("+")) {
      this.continuation?.();
      return;
    }
    if (line.startsWith("* ")) {
      this.pending?.untagged.push(line);
      this.onUntagged(line);
      return;
    }
    const m = /^(\S+) (OK|NO|BAD)\b/i.exec(line);
    if (m && this.pending && m[1] === this.pending.tag) {
      const p = this.pending;
      this.pending = undefined;
      p.resolve({ status: m[2]!.toUpperCase() as Tagged["status"], line, untagged: p.untagged });
      return;
    }
    this.problems.push(`unexpected line: ${line.slice(0, 200)}`);
  }

  private onUntagged(line: string): void {
    if (/^\* BYE\b/i.test(line)) {
      this.bye = line;
      return;
    }
    if (!this.selected) return;
    let m = /^\* (\d+) EXISTS$/i.exec(line);
    if (m) {
      const n = Number(m[1]);
      if (n < this.view.length) this.problems.push(`EXISTS ${n} below ${this.view.length} messages`);
      while (this.view.length < n) this.view.push({ uid: 0, flags: null });
      this.lastExistsWith = this.pending?.text ?? "no command";
      this.changes++;
      return;
    }
    m = /^\* (\d+) EXPUNGE$/i.exec(line);
    if (m) {
      const n = Number(m[1]);
      if (n < 1 || n > this.view.length) this.problems.push(`EXPUNGE ${n} with ${this.view.length} messages`);
      else this.view.splice(n - 1, 1);
      this.changes++;
      return;
    }
    m = /^\* (\d+) FETCH \((.*)\)$/i.exec(line);
    if (m) {
      const n = Number(m[1]);
      const entry = this.view[n - 1];
      if (!entry) {
        this.problems.push(`FETCH ${n} with ${this.view.length} messages: ${line.slice(0, 200)}`);
        return;
      }
      const uid = /\bUID (\d+)/i.exec(m[2]!);
      if (uid) {
        const u = Number(uid[1]);
        if (entry.uid !== 0 && entry.uid !== u)
          this.problems.push(`message ${n} was UID ${entry.uid}, now ${u}`);
        entry.uid = u;
      }
      const flags = /\bFLAGS \(([^)]*)\)/i.exec(m[2]!);
      if (flags) entry.flags = normaliseFlags(flags[1]!.split(" ").filter(Boolean));
      this.changes++;
    }
  }
}
