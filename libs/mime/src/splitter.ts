// Streaming MIME splitter: finds the byte offsets of every part (header
// start, body start, body end) and the line count of every body, recursing
// into multiparts and encapsulated messages, without ever holding more than
// one part's header (capped) and a line's worth of carry-over in memory.
//
// Boundary rules (RFC 2046 §5.1.1) with the tolerance real mail needs, as a
// reference server (Dovecot's message-parser.c) applies them:
//  * a boundary line is "--" + boundary at the start of a line; only the
//    beginning has to match (trailing garbage, e.g. whitespace, is ignored);
//    when several open boundaries match, the longest wins;
//  * the [CR]LF before "--boundary" belongs to the delimiter, not to the
//    part before it; a delimiter directly at a body start has none;
//  * an outer boundary closes every inner part still open (missing closing
//    boundaries), a closing "--boundary--" ends its multipart (the rest up to
//    the enclosing boundary is the epilogue);
//  * boundary lines are also recognised inside headers: the header ends
//    there and the part has an empty body;
//  * at end of input every open part ends; a header without an empty line
//    ends at end of input with an empty body.
// Line endings may be CRLF or bare LF, also mixed; sizes are of the bytes as
// stored.

/** Longest boundary honoured (RFC 2046 allows 70; a little slack for broken senders). */
export const BOUNDARY_MAX_LEN = 70 + 10;
const BOUNDARY_END_MAX_LEN = BOUNDARY_MAX_LEN + 2 + 2;
/** A boundary candidate line is examined up to this many bytes (RFC 5322 §2.1.1 line limit). */
const LINE_PROBE = 998;
/** Nesting limit, like the reference server's (beyond it parts are opaque). */
export const MAX_NESTING = 100;
/** Total part limit: past it no more boundaries are looked for. */
export const MAX_PARTS = 10000;
/** Header bytes kept per part; the rest is skipped (but still measured). */
export const MAX_HEADER_BYTES = 256 * 1024;

export enum PartKind {
  Leaf = 0,
  Multipart = 1,
  Message = 2,
}

export interface RawPart<I> {
  headerStart: number;
  bodyStart: number;
  bodyEnd: number;
  /** LF count of the body. */
  lines: number;
  kind: PartKind;
  /** What the header analyser returned for this part. */
  info: I;
  children: RawPart<I>[];
  parent: RawPart<I> | null;
  depth: number;
  /** Set when this part is a direct child of a multipart (it has MIME headers). */
  inMultipart: boolean;
  /** First bytes of the body, when the analyser asked for them. */
  capture: Buffer | null;
}

export interface HeaderVerdict<I> {
  info: I;
  kind: PartKind;
  /** Boundary of a multipart (without the leading "--"). */
  boundary?: Buffer;
  /** Keep this many first bytes of the body in RawPart.capture. */
  capture?: number;
}

/**
 * Called once per part when its header is complete. `header` holds at most
 * MAX_HEADER_BYTES of it (without the empty line). `canNest` is false when
 * the nesting or part limit is reached: the verdict's kind is then ignored
 * and the part treated as a leaf.
 */
export type HeaderAnalyser<I> = (header: Buffer, part: RawPart<I>, canNest: boolean) => HeaderVerdict<I>;

interface Bound<I> {
  bytes: Buffer;
  part: RawPart<I>;
}

enum Mode {
  Header = 0,
  Body = 1,
  SkipLine = 2,
  Done = 3,
}

interface OpenState<I> {
  part: RawPart<I>;
  lfBodyStart: number;
  header: Buffer[];
  headerLen: number;
  inHeader: boolean;
  captureLimit: number;
  captured: Buffer[];
  capturedLen: number;
}

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

export class Splitter<I> {
  /** Absolute offset of buf[0]. */
  private abs = 0;
  private buf: Buffer = Buffer.alloc(0);
  private i = 0;
  /** LF count of all consumed bytes. */
  private lf = 0;
  private last1 = LF;
  private last2 = LF;
  private mode = Mode.Header;
  private atLineStart = true;
  /** At a line start that no newline of this body precedes (body start, after a boundary line). */
  private freshLine = false;
  /** Newline length of the previous header line (0: no header line yet). */
  private prevHdrNewline = 0;
  /**
   * Length of the empty line that just ended a header, while nothing has
   * been consumed after it: if an enclosing boundary follows right away,
   * that line is the delimiter's [CR]LF and the header ends before it.
   */
  private pendingEoh = 0;
  private readonly bounds: Bound<I>[] = [];
  private readonly stack: OpenState<I>[] = [];
  private partCount = 0;
  private pendingClosing = false;
  readonly root: RawPart<I>;

  constructor(
    private readonly analyse: HeaderAnalyser<I>,
    initialInfo: I,
  ) {
    this.root = this.newPart(null, 0, false, initialInfo);
  }

  private newPart(parent: RawPart<I> | null, start: number, inMultipart: boolean, info: I): RawPart<I> {
    const part: RawPart<I> = {
      headerStart: start,
      bodyStart: start,
      bodyEnd: start,
      lines: 0,
      kind: PartKind.Leaf,
      info,
      children: [],
      parent,
      depth: parent === null ? 0 : parent.depth + 1,
      inMultipart,
      capture: null,
    };
    if (parent !== null) parent.children.push(part);
    this.partCount++;
    this.stack.push({
      part,
      lfBodyStart: 0,
      header: [],
      headerLen: 0,
      inHeader: true,
      captureLimit: 0,
      captured: [],
      capturedLen: 0,
    });
    this.mode = Mode.Header;
    this.atLineStart = true;
    this.prevHdrNewline = 0;
    return part;
  }

  private get top(): OpenState<I> {
    return this.stack[this.stack.length - 1]!;
  }

  write(chunk: Uint8Array): void {
    if (this.mode === Mode.Done || chunk.length === 0) return;
    const c = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.i < this.buf.length) {
      const rest = this.buf.subarray(this.i);
      this.abs += this.i;
      this.buf = Buffer.concat([rest, c]);
    } else {
      this.abs += this.buf.length;
      this.buf = c;
    }
    this.i = 0;
    this.run(false);
  }

  end(): RawPart<I> {
    if (this.mode !== Mode.Done) {
      this.run(true);
      const endPos = this.abs + this.buf.length;
      this.closeUntil(null, endPos, this.lf);
      this.mode = Mode.Done;
      this.buf = Buffer.alloc(0);
      this.i = 0;
    }
    return this.root;
  }

  /** LF count of the input consumed so far (the whole message after end()). */
  get lineCount(): number {
    return this.lf;
  }

  /** Total bytes consumed so far. */
  get position(): number {
    return this.abs + this.i;
  }

  private run(eof: boolean): void {
    for (;;) {
      let progressed: boolean;
      switch (this.mode) {
        case Mode.Header:
          progressed = this.runHeader(eof);
          break;
        case Mode.Body:
          progressed = this.runBody(eof);
          break;
        case Mode.SkipLine:
          progressed = this.runSkipLine();
          break;
        default:
          return;
      }
      if (!progressed) return;
    }
  }

  /** Consumes buf[i, j) as bytes of the current part's header. */
  private consumeHeader(j: number): void {
    const st = this.top;
    st.headerLen += this.copyUpTo(st.header, MAX_HEADER_BYTES - st.headerLen, j);
    this.advanceTo(j);
  }

  /** Copies up to room bytes of buf[i, j) into chunks; returns how many. */
  private copyUpTo(chunks: Buffer[], room: number, j: number): number {
    if (room <= 0) return 0;
    const take = Math.min(j - this.i, room);
    chunks.push(Buffer.from(this.buf.subarray(this.i, this.i + take)));
    return take;
  }

  /** Marks buf[i, j) consumed. */
  private advanceTo(j: number): void {
    this.noteLast(j);
    this.i = j;
    this.pendingEoh = 0;
  }

  private noteLast(j: number): void {
    const b = this.buf;
    if (j - this.i >= 2) {
      this.last2 = b[j - 2]!;
      this.last1 = b[j - 1]!;
    } else if (j - this.i === 1) {
      this.last2 = this.last1;
      this.last1 = b[j - 1]!;
    }
  }

  /** Consumes buf[i, j) as body bytes of the current part, counting LFs. */
  private consumeBody(j: number): void {
    const b = this.buf;
    let k = this.i;
    let n = 0;
    for (;;) {
      k = b.indexOf(LF, k);
      if (k < 0 || k >= j) break;
      n++;
      k++;
    }
    this.lf += n;
    const st = this.top;
    st.capturedLen += this.copyUpTo(st.captured, st.captureLimit - st.capturedLen, j);
    this.advanceTo(j);
  }

  /**
   * Checks for a boundary line at buf[i]. Returns the bound index, -1 when
   * the line is no boundary, -2 when more input is needed to decide.
   * Sets pendingClosing for a closing delimiter.
   */
  private findBoundary(eof: boolean): number {
    const b = this.buf;
    const i = this.i;
    const avail = b.length - i;
    if (avail < 2) return eof ? -1 : -2;
    if (b[i] !== DASH || b[i + 1] !== DASH) return -1;
    if (this.bounds.length === 0 || this.partCount >= MAX_PARTS) return -1;
    const data = i + 2;
    const size = avail - 2;
    const probeEnd = Math.min(b.length, data + LINE_PROBE);
    let lfPos = b.indexOf(LF, data);
    if (lfPos >= probeEnd) lfPos = -1;
    if (lfPos < 0 && probeEnd - data < LINE_PROBE && !eof) return -2;
    let findSize: number;
    let trailingDashes = false;
    if (lfPos >= 0) {
      findSize = lfPos - data;
      if (findSize > 0 && b[data + findSize - 1] === CR) findSize--;
      if (findSize > 2 && b[data + findSize - 1] === DASH && b[data + findSize - 2] === DASH)
        trailingDashes = true;
    } else {
      findSize = Math.min(size, BOUNDARY_END_MAX_LEN);
    }
    let best = -1;
    let bestLen = -1;
    for (let k = this.bounds.length - 1; k >= 0; k--) {
      const bb = this.bounds[k]!.bytes;
      const len = bb.length;
      if (len <= findSize && len > bestLen && b.compare(bb, 0, len, data, data + len) === 0) {
        best = k;
        bestLen = len;
        if (len === findSize || (trailingDashes && len + 2 === findSize)) break;
      }
    }
    if (best < 0) return -1;
    this.pendingClosing = size >= bestLen + 2 && b[data + bestLen] === DASH && b[data + bestLen + 1] === DASH;
    return best;
  }

  /**
   * Ends open parts down to (excluding) `until` (null: all) at `pos`.
   *
   * `openHeaderNewline` > 0: a boundary ended an encapsulated message while
   * its header was still open after at least one header line (no blank line,
   * no header at all, or a transfer-encoded message/rfc822 read as header
   * lines). The inner header still ends before the delimiter's [CR]LF, but
   * the enclosing message/rfc822 parts keep that newline in their body, size
   * and line count, as the reference server (Dovecot's message-parser.c)
   * counts them: BODY[n] then ends with the [CR]LF and BODY[n.HEADER] does not.
   */
  private closeUntil(until: RawPart<I> | null, pos: number, lfAtPos: number, openHeaderNewline = 0): void {
    let extend = 0;
    const first = this.stack.length > 0 ? this.top : undefined;
    if (
      openHeaderNewline > 0 &&
      first !== undefined &&
      first.inHeader &&
      first.part.parent !== null &&
      first.part.parent.kind === PartKind.Message
    ) {
      extend = openHeaderNewline;
    }
    while (this.stack.length > 0 && this.top.part !== until) {
      const st = this.stack.pop()!;
      const p = st.part;
      if (extend > 0 && !st.inHeader) {
        if (p.kind === PartKind.Message) {
          p.bodyEnd = pos + extend;
          p.lines = Math.max(0, lfAtPos + 1 - st.lfBodyStart);
          continue;
        }
        extend = 0;
      }
      // a header's empty line taken back as the delimiter's [CR]LF
      if (p.headerStart > pos) p.headerStart = pos;
      if (p.bodyStart > pos) p.bodyStart = pos;
      if (st.inHeader) {
        // end of input or a boundary inside the header: the header runs to
        // `pos` and the body is empty
        this.finishHeader(st, pos, lfAtPos, false);
        continue;
      }
      p.bodyEnd = pos;
      p.lines = Math.max(0, lfAtPos - st.lfBodyStart);
      if (st.captured.length > 0) {
        const cap = st.captured.length === 1 ? st.captured[0]! : Buffer.concat(st.captured);
        p.capture = cap.subarray(0, Math.min(cap.length, pos - p.bodyStart));
      }
    }
  }

  /**
   * The header of `st` is complete and its body starts at `bodyStart`. With
   * open=false the part is already over (its body is empty); st is then no
   * longer on the stack.
   */
  private finishHeader(st: OpenState<I>, bodyStart: number, lfAtBody: number, open: boolean): void {
    const p = st.part;
    const header = st.header.length === 1 ? st.header[0]! : Buffer.concat(st.header);
    st.header = [];
    st.inHeader = false;
    p.bodyStart = bodyStart;
    p.bodyEnd = bodyStart;
    st.lfBodyStart = lfAtBody;
    const canNest = p.depth + 1 < MAX_NESTING && this.partCount < MAX_PARTS;
    const v = this.analyse(header, p, canNest);
    p.info = v.info;
    const kind = canNest ? v.kind : PartKind.Leaf;
    p.kind = kind;
    if (!open) {
      if (kind === PartKind.Message) {
        // an encapsulated message always has its (here empty) message part
        this.newPart(p, bodyStart, false, v.info);
        const child = this.stack.pop()!;
        this.finishHeader(child, bodyStart, lfAtBody, false);
      }
      return;
    }
    st.captureLimit = kind === PartKind.Leaf ? (v.capture ?? 0) : 0;
    if (kind === PartKind.Message) {
      this.newPart(p, bodyStart, false, v.info);
      return;
    }
    // a multipart without a boundary has no children; its body is opaque
    if (kind === PartKind.Multipart && v.boundary !== undefined)
      this.bounds.push({ bytes: v.boundary, part: p });
    this.mode = Mode.Body;
    this.atLineStart = true;
    this.freshLine = true;
  }

  private runHeader(eof: boolean): boolean {
    const b = this.buf;
    const len = b.length;
    while (this.i < len) {
      if (this.atLineStart) {
        if (this.bounds.length > 0) {
          const k = this.findBoundary(eof);
          if (k === -2) return false;
          if (k >= 0) {
            // The previous [CR]LF belongs to the boundary delimiter.
            const nl = this.prevHdrNewline > 0 ? this.prevHdrNewline : this.pendingEoh;
            this.closeAt(k, this.abs + this.i - nl, this.lf - (nl > 0 ? 1 : 0), this.prevHdrNewline);
            return true;
          }
        }
        const c = b[this.i]!;
        if (c === LF || c === CR) {
          let nl = 0;
          if (c === LF) nl = 1;
          else if (this.i + 1 < len) nl = b[this.i + 1] === LF ? 2 : 0;
          else if (!eof) return false; // need the byte after CR
          if (nl > 0) {
            this.lf++;
            this.noteLast(this.i + nl);
            this.i += nl;
            this.pendingEoh = nl;
            this.finishHeader(this.top, this.abs + this.i, this.lf, true);
            return true;
          }
        }
        this.atLineStart = false;
      }
      const j = b.indexOf(LF, this.i);
      if (j < 0) {
        this.consumeHeader(len);
        return false;
      }
      const crlf = j > this.i ? b[j - 1] === CR : this.last1 === CR;
      this.lf++;
      this.consumeHeader(j + 1);
      this.prevHdrNewline = crlf ? 2 : 1;
      this.atLineStart = true;
    }
    return false;
  }

  /**
   * A boundary of bounds[k] starts at buf[i]; the delimiter starts at `pos`
   * (before its [CR]LF). Ends the parts inside the multipart and moves on to
   * the rest of the boundary line.
   */
  private closeAt(k: number, pos: number, lfAtPos: number, openHeaderNewline = 0): void {
    const bound = this.bounds[k]!;
    this.closeUntil(bound.part, pos, lfAtPos, openHeaderNewline);
    this.bounds.length = this.pendingClosing ? k : k + 1;
    this.mode = Mode.SkipLine;
  }

  private runSkipLine(): boolean {
    const b = this.buf;
    const j = b.indexOf(LF, this.i);
    if (j < 0) {
      this.consumeBody(b.length);
      return false;
    }
    this.consumeBody(j + 1);
    const mp = this.top.part;
    const b0 = this.bounds[this.bounds.length - 1];
    if (b0 !== undefined && b0.part === mp) {
      this.newPart(mp, this.abs + this.i, true, mp.info);
    } else {
      // epilogue
      this.mode = Mode.Body;
      this.atLineStart = true;
      this.freshLine = true;
    }
    return true;
  }

  private runBody(eof: boolean): boolean {
    const b = this.buf;
    const len = b.length;
    if (this.bounds.length === 0) {
      if (this.i < len) this.consumeBody(len);
      return false;
    }
    for (;;) {
      if (this.atLineStart) {
        if (this.i + 1 < len && b[this.i] !== DASH) {
          // fast path: not a boundary
        } else {
          const k = this.findBoundary(eof);
          if (k === -2) return false;
          if (k >= 0) {
            let nl = 0;
            if (!this.freshLine && this.last1 === LF) nl = this.last2 === CR ? 2 : 1;
            else if (this.bounds[k]!.part !== this.top.part) nl = this.pendingEoh;
            const pos = this.abs + this.i - nl;
            this.closeAt(k, pos, this.lf - (nl > 0 ? 1 : 0));
            return true;
          }
        }
        this.atLineStart = false;
        this.freshLine = false;
      }
      if (this.i >= len) return false;
      const j = b.indexOf(LF, this.i);
      if (j < 0) {
        this.consumeBody(len);
        return false;
      }
      this.consumeBody(j + 1);
      this.atLineStart = true;
    }
  }
}
