/**
 * Splits a byte stream into CRLF (or bare LF) terminated lines with a hard
 * length limit, for the line-based protocols (POP3, SMTP commands). A line
 * over the limit is not buffered: its bytes are dropped up to the next line end
 * and reported once as too long, so a hostile client can't grow our memory.
 */
export type LineEvent = { kind: "line"; line: Buffer } | { kind: "too-long" };

export class LineSplitter {
  private parts: Buffer[] = [];
  private pending = 0;
  private discarding = false;

  /** @param maxLength longest accepted line in octets, excluding the line ending */
  constructor(private readonly maxLength: number) {}

  /** Feeds bytes; returns the complete lines (without their CRLF/LF) in order. */
  push(chunk: Buffer): LineEvent[] {
    const out: LineEvent[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.discarding) {
        if (this.pending + (end - start) > this.maxLength + 1) {
          // +1 allows the CR of a CRLF that arrives with the limit reached.
          this.discarding = true;
          this.parts = [];
          this.pending = 0;
        } else if (end > start) {
          this.parts.push(chunk.subarray(start, end));
          this.pending += end - start;
        }
      }
      if (nl === -1) break;
      if (this.discarding) {
        out.push({ kind: "too-long" });
        this.discarding = false;
      } else {
        let line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.pending);
        if (line.length && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
        if (line.length > this.maxLength) out.push({ kind: "too-long" });
        else out.push({ kind: "line", line });
      }
      this.parts = [];
      this.pending = 0;
      start = nl + 1;
    }
    return out;
  }

  /** Bytes held for an unfinished line. */
  get buffered(): number {
    return this.pending;
  }

  /** Drops any partial line (e.g. before a STARTTLS upgrade). */
  reset(): void {
    this.parts = [];
    this.pending = 0;
    this.discarding = false;
  }
}
