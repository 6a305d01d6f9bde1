/**
 * TOP msg n (RFC 1939 §7): the header, the empty line after it, and the first
 * n lines of the body. A streaming cut over the stored bytes, applied before
 * DotStuffer: it finds the end of the header itself (the first empty line,
 * with or without its CR), so it works whatever the index holds, and reports
 * `done` once it has passed everything TOP sends so the read can stop early.
 */
const LF = 10;
const CR = 13;

export class TopCutter {
  private inHeader = true;
  /** Octets on the current line so far, not counting a CR. */
  private lineOctets = 0;
  private bodyLinesLeft: number;
  done = false;

  constructor(bodyLines: number) {
    this.bodyLinesLeft = bodyLines;
  }

  /** The part of `chunk` TOP sends. */
  push(chunk: Buffer): Buffer {
    if (this.done) return chunk.subarray(0, 0);
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== LF) {
        if (b !== CR) this.lineOctets++;
        continue;
      }
      if (this.inHeader) {
        if (this.lineOctets === 0) {
          this.inHeader = false;
          if (this.bodyLinesLeft === 0) {
            this.done = true;
            return chunk.subarray(0, i + 1);
          }
        }
      } else if (--this.bodyLinesLeft <= 0) {
        this.done = true;
        return chunk.subarray(0, i + 1);
      }
      this.lineOctets = 0;
    }
    return chunk;
  }
}
