/**
 * ManageSieve command reader (RFC 5804 §4): a command is an atom followed by
 * arguments — atoms, numbers, quoted strings (\" and \\ escapes) and literals
 * ({N+} non-synchronizing, {N} accepted too) — ended by CRLF outside a
 * literal. Bytes arrive in chunks; `next()` returns a whole command, nothing
 * yet, or a protocol error. Bounded: a line without its CRLF past maxLine and a
 * literal above maxLiteral are errors (the literal's bytes are skipped so the
 * session can go on).
 */

export type Token = { kind: "atom"; value: string } | { kind: "string"; value: Buffer };

export type ReadResult =
  | { kind: "command"; tokens: Token[] }
  | { kind: "incomplete" }
  | { kind: "error"; message: string; fatal: boolean };

export class CommandReader {
  #buf: Buffer = Buffer.alloc(0);
  /** Bytes of an over-long literal still to throw away. */
  #skip = 0;

  constructor(
    private readonly maxLine: number,
    private readonly maxLiteral: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, chunk.length);
      this.#skip -= n;
      chunk = chunk.subarray(n);
    }
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
  }

  reset(): void {
    this.#buf = Buffer.alloc(0);
    this.#skip = 0;
  }

  next(): ReadResult {
    const b = this.#buf;
    const tokens: Token[] = [];
    let i = 0;
    let lineStart = 0;
    for (;;) {
      while (i < b.length && b[i] === 0x20) i++;
      if (i >= b.length) return this.#incomplete(i - lineStart);
      const c = b[i]!;
      if (c === 0x0d || c === 0x0a) {
        if (c === 0x0d) {
          if (i + 1 >= b.length) return { kind: "incomplete" };
          if (b[i + 1] !== 0x0a) return this.#fail(i + 1, "bare CR");
          i += 2;
        } else i += 1;
        this.#buf = b.subarray(i);
        if (tokens.length === 0) return this.next();
        return { kind: "command", tokens };
      }
      if (c === 0x22) {
        const bytes: number[] = [];
        let j = i + 1;
        for (;;) {
          if (j >= b.length) return this.#incomplete(j - lineStart);
          const d = b[j]!;
          if (d === 0x22) break;
          if (d === 0x0d || d === 0x0a) return this.#fail(j, "line break inside a quoted string");
          if (d === 0x5c) {
            if (j + 1 >= b.length) return this.#incomplete(j - lineStart);
            bytes.push(b[j + 1]!);
            j += 2;
            continue;
          }
          bytes.push(d);
          j++;
        }
        tokens.push({ kind: "string", value: Buffer.from(bytes) });
        i = j + 1;
        continue;
      }
      if (c === 0x7b) {
        const close = b.indexOf("}", i);
        if (close < 0) return this.#incomplete(i - lineStart);
        const m = /^\{(\d{1,10})(\+?)\}$/.exec(b.toString("latin1", i, close + 1));
        if (!m) return this.#fail(close + 1, "bad literal");
        let j = close + 1;
        if (j + 1 >= b.length) return { kind: "incomplete" };
        if (b[j] === 0x0d && b[j + 1] === 0x0a) j += 2;
        else if (b[j] === 0x0a) j += 1;
        else return this.#fail(j, "literal must be followed by CRLF");
        const n = Number(m[1]);
        if (n > this.maxLiteral) {
          // Skip the literal's bytes and the rest of that command line: answer NO, keep the session.
          const have = b.length - j;
          if (have >= n) {
            const end = b.indexOf("\n", j + n);
            if (end < 0) {
              this.#buf = Buffer.alloc(0);
            } else this.#buf = b.subarray(end + 1);
          } else {
            this.#skip = n - have;
            this.#buf = Buffer.alloc(0);
          }
          return { kind: "error", message: `literal larger than ${this.maxLiteral} octets`, fatal: false };
        }
        if (b.length - j < n) return { kind: "incomplete" };
        tokens.push({ kind: "string", value: Buffer.from(b.subarray(j, j + n)) });
        i = j + n;
        lineStart = i;
        continue;
      }
      let j = i;
      while (
        j < b.length &&
        b[j] !== 0x20 &&
        b[j] !== 0x0d &&
        b[j] !== 0x0a &&
        b[j] !== 0x22 &&
        b[j] !== 0x7b
      )
        j++;
      if (j >= b.length) return this.#incomplete(j - lineStart);
      tokens.push({ kind: "atom", value: b.toString("latin1", i, j) });
      i = j;
    }
  }

  #incomplete(lineBytes: number): ReadResult {
    if (lineBytes > this.maxLine) {
      this.#buf = Buffer.alloc(0);
      return { kind: "error", message: "line too long", fatal: true };
    }
    return { kind: "incomplete" };
  }

  #fail(at: number, message: string): ReadResult {
    // Drop through the end of the bad line and go on.
    const end = this.#buf.indexOf("\n", at);
    this.#buf = end < 0 ? Buffer.alloc(0) : this.#buf.subarray(end + 1);
    return { kind: "error", message, fatal: false };
  }
}

/** A response string: quoted when it can be, a literal otherwise (RFC 5804 §4). */
export function sieveString(s: string | Buffer): string {
  const text = Buffer.isBuffer(s) ? s.toString("utf8") : s;
  // Quoted (with \" and \\ escaped) unless it has line breaks or is long.
  if (/^[^\r\n\0]{0,1000}$/.test(text)) return `"${text.replace(/["\\]/g, "\\$&")}"`;
  return `{${Buffer.byteLength(text)}}\r\n${text}`;
}
