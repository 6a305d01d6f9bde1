// Incremental IMAP command framer: bytes from the socket in, framed commands out.
//
// The reader never touches a socket. The host pushes each Buffer it receives and then
// pulls events until `next()` returns null:
//
//   socket.on("data", (chunk) => { reader.push(chunk); pump(); });
//   async function pump() {          // one pump at a time; pause the socket while busy
//     for (let event = reader.next(); event; event = reader.next()) await handle(event);
//   }
//
// Pulling (rather than callbacks) lets the host change the reader between two events:
// switch to raw-line mode right after it takes an AUTHENTICATE or IDLE command
// (`setMode("line")`, so the next "DONE" or SASL response arrives as a `line` event and
// is never framed as a command), or drop pipelined plaintext after STARTTLS
// (`discardBufferedInput()`, RFC 9051 §6.2.1). Bytes not pulled yet stay in the reader
// (`bufferedBytes`); the host pauses the socket when that grows past its high-water mark.
//
// Events, in stream order:
//   command             a complete command: line segments plus its buffered literals.
//   need-continuation   a synchronizing literal `{n}` was accepted; the host must send
//                       "+ ..." now, the client waits for it (RFC 9051 §7.5).
//   literal-start / literal-chunk / literal-end
//                       a literal too large to buffer, of a streaming command (APPEND by
//                       default), delivered in pieces as the octets arrive. Chunks are
//                       views into the pushed Buffers; no chunk is held after it is
//                       returned. The command event that follows the last segment records
//                       the literal as `{kind: "streamed", index, size}` so the handler can
//                       match the stored upload with the parsed arguments (e.g. MULTIAPPEND);
//                       if the command then fails to parse, or an error event replaces it,
//                       the host discards what it stored.
//   line                a raw line in "line" mode (AUTHENTICATE responses, IDLE's DONE).
//   error               the command (or line) was rejected by a framing limit; answer
//                       `${tag ?? "*"} ${status} [${responseCode}] ${message}`.
//
// Limits (memory stays bounded whatever the client sends):
//   - maxLineLength per line; a longer line is discarded up to its LF, keeping only its
//     start (for the tag) and its last few octets (to see a literal header at its end).
//   - Literals up to maxBufferedLiteralSize are buffered into the command, while the
//     command's total stays under maxCommandBufferSize. Larger literals stream for
//     streaming commands (up to maxLiteralSize, which `literalLimit` may lower per command,
//     e.g. to APPENDLIMIT), and are rejected for every other command.
//   - A rejected synchronizing literal is never read: the error event replaces the
//     continuation and the client, per RFC 9051 §7.5, does not send the octets; the next
//     line is a new command.
//   - A rejected non-synchronizing literal (too big, or over 4096 octets under LITERAL-,
//     RFC 7888 §4) is already on its way, and the server can only skip its octets or
//     close the connection (RFC 7888 §4 allows either). Up to maxSkippedLiteralSize
//     octets we skip: they are counted and dropped without being buffered, the rest of
//     the command is discarded the same way, and then one error event is emitted. A
//     larger one (a `{2147483648+}`) would cost the whole transfer to skip, so the error
//     event comes at once, before any of its octets, marked `closesConnection`: the
//     reader is done (it drops all later input, as it cannot find the next command), and
//     the host answers and then closes (IMAP: tagged BAD [TOOBIG], then `* BYE`).
//
// Lines end in CRLF; a bare LF is accepted too. Empty lines between commands are ignored.

import { isValidTag } from "./charset.ts";
import type { BufferedLiteral, FramedCommand, FramedLiteral, StreamedLiteral } from "./framed-command.ts";

export interface CommandReaderOptions {
  /** Longest line (a command line, or the text between two literals), CRLF excluded. */
  readonly maxLineLength?: number;
  /** Largest literal accepted for a streaming command. */
  readonly maxLiteralSize?: number;
  /** Literals up to this size are buffered into the command instead of streamed. */
  readonly maxBufferedLiteralSize?: number;
  /** Most octets of lines plus buffered literals one command may hold in memory. */
  readonly maxCommandBufferSize?: number;
  /**
   * Largest non-synchronizing literal (`{n+}`) accepted: Infinity with LITERAL+,
   * 4096 with LITERAL- (RFC 7888 §4).
   */
  readonly maxNonSyncLiteralSize?: number;
  /**
   * Largest rejected non-synchronizing literal that is skipped (read and dropped) to keep
   * the connection; a larger one ends it at once, unread (default 64 KiB).
   */
  readonly maxSkippedLiteralSize?: number;
  /** Commands whose large literals are streamed to the host (base names). */
  readonly streamingCommands?: Iterable<string>;
  /**
   * Lets the host lower maxLiteralSize for one command (APPENDLIMIT, quota). Called at
   * each literal header of a streaming command; return undefined for the default.
   */
  readonly literalLimit?: (command: {
    readonly tag: string;
    readonly commandName: string;
  }) => number | undefined;
}

export type ReaderMode = "command" | "line";

export type ReaderErrorCode =
  | "line-too-long"
  | "literal-too-big"
  | "non-sync-literal-too-big"
  | "command-too-long";

export interface CommandEvent {
  readonly kind: "command";
  readonly command: FramedCommand;
}

export interface NeedContinuationEvent {
  readonly kind: "need-continuation";
  readonly tag: string;
  readonly commandName: string;
  readonly size: number;
}

export interface LiteralStartEvent {
  readonly kind: "literal-start";
  readonly tag: string;
  readonly commandName: string;
  /** Index of this literal among the command's literals (its place in `command.literals`). */
  readonly index: number;
  readonly size: number;
  readonly binary: boolean;
}

export interface LiteralChunkEvent {
  readonly kind: "literal-chunk";
  readonly tag: string;
  readonly index: number;
  readonly data: Buffer;
}

export interface LiteralEndEvent {
  readonly kind: "literal-end";
  readonly tag: string;
  readonly index: number;
}

export interface LineEvent {
  readonly kind: "line";
  readonly line: Buffer;
}

export interface ReaderErrorEvent {
  readonly kind: "error";
  /** The command's tag when one was read; null means answer with "*". */
  readonly tag: string | null;
  readonly commandName: string;
  readonly code: ReaderErrorCode;
  readonly status: "BAD" | "NO";
  readonly responseCode: "TOOBIG" | null;
  readonly message: string;
  /**
   * The input cannot be framed any further (a rejected non-synchronizing literal too big
   * to skip is on its way): answer, then close the connection.
   */
  readonly closesConnection?: true;
}

export type ReaderEvent =
  | CommandEvent
  | NeedContinuationEvent
  | LiteralStartEvent
  | LiteralChunkEvent
  | LiteralEndEvent
  | LineEvent
  | ReaderErrorEvent;

export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;
export const DEFAULT_MAX_LITERAL_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MAX_BUFFERED_LITERAL_SIZE = 64 * 1024;
export const DEFAULT_MAX_COMMAND_BUFFER_SIZE = 1024 * 1024;
export const DEFAULT_MAX_SKIPPED_LITERAL_SIZE = 64 * 1024;
/** RFC 7888 §4: under LITERAL-, non-synchronizing literals may carry at most 4096 octets. */
export const LITERAL_MINUS_MAX_SIZE = 4096;

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const PLUS = 0x2b;
const TILDE = 0x7e;
/** Enough for "~{" + 20 digits + "+}" + CR. */
const TAIL_KEEP = 32;

export interface LiteralHeader {
  readonly size: number;
  readonly synchronizing: boolean;
  readonly binary: boolean;
}

/**
 * The literal header ending `line`, if any (`{n}`, `{n+}`, `~{n}`, `~{n+}`), ignoring a
 * brace that sits inside a quoted string. A size too long to represent is Infinity.
 */
export function literalHeaderAtEnd(line: Buffer): LiteralHeader | null {
  let end = line.length;
  if (end < 3 || line[end - 1] !== CLOSE_BRACE) return null;
  end--;
  const synchronizing = line[end - 1] !== PLUS;
  if (!synchronizing) end--;
  let digitsStart = end;
  while (digitsStart > 0 && line[digitsStart - 1]! >= 0x30 && line[digitsStart - 1]! <= 0x39) digitsStart--;
  if (digitsStart === end || digitsStart === 0 || line[digitsStart - 1] !== OPEN_BRACE) return null;
  const braceAt = digitsStart - 1;
  const binary = braceAt > 0 && line[braceAt - 1] === TILDE;
  if (endsInsideQuotedString(line, binary ? braceAt - 1 : braceAt)) return null;
  const digits = end - digitsStart;
  const size = digits > 15 ? Number.POSITIVE_INFINITY : Number(line.toString("latin1", digitsStart, end));
  return { size, synchronizing, binary };
}

function endsInsideQuotedString(line: Buffer, end: number): boolean {
  let inQuote = false;
  for (let i = 0; i < end; i++) {
    const byte = line[i];
    if (inQuote && byte === BACKSLASH) i++;
    else if (byte === DQUOTE) inQuote = !inQuote;
  }
  return inQuote;
}

/** Tag and upper-cased command name ("UID FETCH" style) from a command's first line. */
function commandIdentity(firstLine: Buffer): { tag: string; commandName: string } {
  const words: string[] = [];
  let start = 0;
  while (words.length < 3 && start <= firstLine.length) {
    let end = firstLine.indexOf(SPACE, start);
    if (end < 0) end = firstLine.length;
    words.push(firstLine.toString("latin1", start, end));
    start = end + 1;
  }
  const tag = words[0] ?? "";
  const name = (words[1] ?? "").toUpperCase();
  const commandName = name === "UID" && words[2] ? `UID ${words[2].toUpperCase()}` : name;
  return { tag, commandName };
}

function baseCommandName(commandName: string): string {
  return commandName.startsWith("UID ") ? commandName.slice(4) : commandName;
}

interface CommandInProgress {
  readonly tag: string;
  readonly commandName: string;
  readonly segments: Buffer[];
  readonly literals: FramedLiteral[];
  literalCount: number;
  bufferedBytes: number;
  /** Set once a limit is hit: the rest of the command is discarded, then this is emitted. */
  error: ReaderErrorEvent | null;
}

type LiteralDisposition = "buffer" | "stream" | "discard";

interface LiteralInProgress {
  readonly index: number;
  readonly size: number;
  readonly binary: boolean;
  readonly disposition: LiteralDisposition;
  remaining: number;
  readonly chunks: Buffer[];
}

export class CommandReader {
  readonly #maxLineLength: number;
  readonly #maxLiteralSize: number;
  readonly #maxBufferedLiteralSize: number;
  readonly #maxCommandBufferSize: number;
  readonly #maxNonSyncLiteralSize: number;
  readonly #maxSkippedLiteralSize: number;
  readonly #streamingCommands: ReadonlySet<string>;
  readonly #literalLimit: CommandReaderOptions["literalLimit"];

  #mode: ReaderMode = "command";
  readonly #input: Buffer[] = [];
  #inputOffset = 0;
  #inputBytes = 0;
  readonly #events: ReaderEvent[] = [];
  #eventsRead = 0;

  // Current line: its pieces while it fits, or its start and tail once it overflowed.
  readonly #lineParts: Buffer[] = [];
  #lineLength = 0;
  #overflowHead: Buffer | null = null;
  #overflowTail: Buffer = Buffer.alloc(0);

  #command: CommandInProgress | null = null;
  #literal: LiteralInProgress | null = null;
  /** Set by an error that closes the connection: all later input is dropped. */
  #finished = false;

  constructor(options: CommandReaderOptions = {}) {
    this.#maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.#maxLiteralSize = options.maxLiteralSize ?? DEFAULT_MAX_LITERAL_SIZE;
    this.#maxBufferedLiteralSize = options.maxBufferedLiteralSize ?? DEFAULT_MAX_BUFFERED_LITERAL_SIZE;
    this.#maxCommandBufferSize = options.maxCommandBufferSize ?? DEFAULT_MAX_COMMAND_BUFFER_SIZE;
    this.#maxNonSyncLiteralSize = options.maxNonSyncLiteralSize ?? Number.POSITIVE_INFINITY;
    this.#maxSkippedLiteralSize = options.maxSkippedLiteralSize ?? DEFAULT_MAX_SKIPPED_LITERAL_SIZE;
    this.#streamingCommands = new Set(options.streamingCommands ?? ["APPEND"]);
    this.#literalLimit = options.literalLimit;
  }

  /** Octets pushed but not yet framed. */
  get bufferedBytes(): number {
    return this.#inputBytes;
  }

  get mode(): ReaderMode {
    return this.#mode;
  }

  /**
   * "line": each following line is returned as a `line` event (AUTHENTICATE exchanges,
   * IDLE's DONE); "command": back to framing commands. Takes effect from the next byte
   * not yet framed, so call it right after pulling the command that needs it.
   */
  setMode(mode: ReaderMode): void {
    this.#mode = mode;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.#finished) return;
    this.#input.push(chunk);
    this.#inputBytes += chunk.length;
  }

  /**
   * Drops everything pushed but not framed yet, and any partial command. Used after
   * STARTTLS so that plaintext pipelined behind it is never executed. Returns the
   * number of octets dropped.
   */
  discardBufferedInput(): number {
    const dropped = this.#inputBytes + this.#lineLength;
    this.#input.length = 0;
    this.#inputOffset = 0;
    this.#inputBytes = 0;
    this.#resetLine();
    this.#command = null;
    this.#literal = null;
    this.#events.length = 0;
    this.#eventsRead = 0;
    return dropped;
  }

  /** The next event, or null when more input is needed. */
  next(): ReaderEvent | null {
    while (this.#eventsRead === this.#events.length) {
      this.#events.length = 0;
      this.#eventsRead = 0;
      if (!this.#step()) return null;
    }
    return this.#events[this.#eventsRead++]!;
  }

  /** All events available now (convenience for tests and synchronous hosts). */
  drain(): ReaderEvent[] {
    const events: ReaderEvent[] = [];
    for (let event = this.next(); event; event = this.next()) events.push(event);
    return events;
  }

  /** Frames from the first unread input buffer; false when there is no input. */
  #step(): boolean {
    const buffer = this.#input[0];
    if (buffer === undefined || this.#finished) return false;
    const start = this.#inputOffset;
    let consumed: number;
    if (this.#literal) {
      consumed = this.#readLiteral(buffer, start);
    } else {
      const lf = buffer.indexOf(LF, start);
      const end = lf < 0 ? buffer.length : lf;
      this.#appendToLine(buffer.subarray(start, end));
      consumed = end - start;
      if (lf >= 0) {
        consumed++;
        this.#consume(consumed);
        this.#endOfLine();
        return true;
      }
    }
    this.#consume(consumed);
    return true;
  }

  #consume(count: number): void {
    this.#inputOffset += count;
    this.#inputBytes -= count;
    const buffer = this.#input[0];
    if (buffer !== undefined && this.#inputOffset >= buffer.length) {
      this.#input.shift();
      this.#inputOffset = 0;
    }
  }

  #appendToLine(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.#overflowHead) {
      this.#keepTail(piece);
      return;
    }
    // One octet of slack: the line's last octet may be the CR of its CRLF.
    if (this.#lineLength + piece.length > this.#maxLineLength + 1) {
      this.#lineParts.push(piece);
      const whole = Buffer.concat(this.#lineParts);
      this.#overflowHead = Buffer.from(whole.subarray(0, Math.min(whole.length, 1024)));
      this.#overflowTail = Buffer.alloc(0);
      this.#keepTail(whole);
      this.#lineParts.length = 0;
      this.#lineLength = 0;
      return;
    }
    // Copy: the line outlives the pushed buffer it came from.
    this.#lineParts.push(Buffer.from(piece));
    this.#lineLength += piece.length;
  }

  #keepTail(piece: Buffer): void {
    if (piece.length >= TAIL_KEEP) {
      this.#overflowTail = Buffer.from(piece.subarray(piece.length - TAIL_KEEP));
    } else {
      const joined = Buffer.concat([this.#overflowTail, piece]);
      this.#overflowTail = Buffer.from(joined.subarray(Math.max(0, joined.length - TAIL_KEEP)));
    }
  }

  #resetLine(): void {
    this.#lineParts.length = 0;
    this.#lineLength = 0;
    this.#overflowHead = null;
    this.#overflowTail = Buffer.alloc(0);
  }

  #endOfLine(): void {
    const overflowHead = this.#overflowHead;
    if (overflowHead) {
      const tail = stripCr(this.#overflowTail);
      this.#resetLine();
      this.#endOfOverlongLine(overflowHead, tail);
      return;
    }
    const joined = this.#lineParts.length === 1 ? this.#lineParts[0]! : Buffer.concat(this.#lineParts);
    const line = stripCr(joined);
    this.#resetLine();
    if (line.length > this.#maxLineLength) {
      this.#endOfOverlongLine(line.subarray(0, 1024), line.subarray(Math.max(0, line.length - TAIL_KEEP)));
      return;
    }
    if (this.#mode === "line" && !this.#command) {
      this.#emit({ kind: "line", line });
      return;
    }
    if (!this.#command) {
      if (line.length === 0) return;
      this.#command = this.#startCommand(line);
    }
    const command = this.#command;
    command.bufferedBytes += line.length;
    if (!command.error && command.bufferedBytes > this.#maxCommandBufferSize) {
      command.error = this.#error(command, "command-too-long", "BAD", null, "Command too long");
    }
    if (!command.error) command.segments.push(line);
    this.#afterLine(command, literalHeaderAtEnd(line));
  }

  #endOfOverlongLine(head: Buffer, tail: Buffer): void {
    if (this.#mode === "line" && !this.#command) {
      this.#emit({
        kind: "error",
        tag: null,
        commandName: "",
        code: "line-too-long",
        status: "BAD",
        responseCode: null,
        message: "Line too long",
      });
      return;
    }
    // The tag is known only if it ended (at a space) within the part of the line kept.
    const command = this.#command ?? this.#startCommand(head.includes(SPACE) ? head : Buffer.alloc(0));
    this.#command = command;
    command.error ??= this.#error(command, "line-too-long", "BAD", null, "Line too long");
    this.#afterLine(command, literalHeaderAtEnd(tail));
  }

  #startCommand(firstLine: Buffer): CommandInProgress {
    const { tag, commandName } = commandIdentity(firstLine);
    return { tag, commandName, segments: [], literals: [], literalCount: 0, bufferedBytes: 0, error: null };
  }

  #afterLine(command: CommandInProgress, header: LiteralHeader | null): void {
    if (!header) {
      this.#finishCommand();
      return;
    }
    const index = command.literalCount++;
    const disposition = this.#literalDisposition(command, header);
    if (disposition === "discard" && !header.synchronizing && header.size > this.#maxSkippedLiteralSize) {
      // RFC 7888 §4: the client sends a non-synchronizing literal without waiting, so a
      // refused one can only be skipped or the connection closed. Skipping this one would
      // take the whole transfer: refuse now, before its first octet, and stop reading.
      command.error = { ...command.error!, closesConnection: true };
      this.#finishCommand();
      this.#finished = true;
      this.#input.length = 0;
      this.#inputOffset = 0;
      this.#inputBytes = 0;
      return;
    }
    if (disposition === "discard" && header.synchronizing) {
      // RFC 9051 §7.5: instead of "+", the tagged error; the client will not send the
      // octets and the command ends here.
      this.#finishCommand();
      return;
    }
    if (disposition !== "discard" && header.synchronizing) {
      this.#emit({
        kind: "need-continuation",
        tag: command.tag,
        commandName: command.commandName,
        size: header.size,
      });
    }
    if (disposition === "stream") {
      const streamed: StreamedLiteral = { kind: "streamed", index, size: header.size, binary: header.binary };
      command.literals.push(streamed);
      this.#emit({
        kind: "literal-start",
        tag: command.tag,
        commandName: command.commandName,
        index,
        size: header.size,
        binary: header.binary,
      });
    }
    this.#literal = {
      index,
      size: header.size,
      binary: header.binary,
      disposition,
      remaining: header.size,
      chunks: [],
    };
    if (header.size === 0) this.#finishLiteral();
  }

  #literalDisposition(command: CommandInProgress, header: LiteralHeader): LiteralDisposition {
    if (command.error) return "discard";
    const streaming = this.#streamingCommands.has(baseCommandName(command.commandName));
    if (!header.synchronizing && header.size > this.#maxNonSyncLiteralSize) {
      command.error = this.#error(
        command,
        "non-sync-literal-too-big",
        "BAD",
        "TOOBIG",
        `Non-synchronizing literals are limited to ${this.#maxNonSyncLiteralSize} octets`,
      );
      return "discard";
    }
    let limit = this.#maxBufferedLiteralSize;
    if (streaming) {
      const lowered = this.#literalLimit?.({ tag: command.tag, commandName: command.commandName });
      limit = Math.min(this.#maxLiteralSize, lowered ?? Number.POSITIVE_INFINITY);
    }
    if (header.size > limit) {
      command.error = this.#error(
        command,
        "literal-too-big",
        streaming ? "NO" : "BAD",
        "TOOBIG",
        `Literal too big (limit ${limit} octets)`,
      );
      return "discard";
    }
    const fitsInBuffer =
      header.size <= this.#maxBufferedLiteralSize &&
      command.bufferedBytes + header.size <= this.#maxCommandBufferSize;
    if (fitsInBuffer) return "buffer";
    if (streaming) return "stream";
    command.error = this.#error(command, "command-too-long", "BAD", null, "Command too long");
    return "discard";
  }

  #readLiteral(buffer: Buffer, start: number): number {
    const literal = this.#literal!;
    const count = Math.min(literal.remaining, buffer.length - start);
    const piece = buffer.subarray(start, start + count);
    if (literal.disposition === "buffer") {
      literal.chunks.push(piece);
    } else if (literal.disposition === "stream") {
      this.#emit({ kind: "literal-chunk", tag: this.#command!.tag, index: literal.index, data: piece });
    }
    literal.remaining -= count;
    if (literal.remaining === 0) {
      // Consume before finishing, so that a literal ending a buffer releases it.
      this.#consume(count);
      this.#finishLiteral();
      return 0;
    }
    return count;
  }

  #finishLiteral(): void {
    const literal = this.#literal!;
    const command = this.#command!;
    this.#literal = null;
    if (literal.disposition === "buffer") {
      const data =
        literal.chunks.length === 1
          ? Buffer.from(literal.chunks[0]!)
          : Buffer.concat(literal.chunks, literal.size);
      const buffered: BufferedLiteral = {
        kind: "buffered",
        index: literal.index,
        data,
        binary: literal.binary,
      };
      command.literals.push(buffered);
      command.bufferedBytes += literal.size;
    } else if (literal.disposition === "stream") {
      this.#emit({ kind: "literal-end", tag: command.tag, index: literal.index });
    }
  }

  #finishCommand(): void {
    const command = this.#command!;
    this.#command = null;
    if (command.error) {
      this.#emit(command.error);
      return;
    }
    this.#emit({
      kind: "command",
      command: {
        tag: command.tag,
        commandName: command.commandName,
        segments: command.segments,
        literals: command.literals,
      },
    });
  }

  #error(
    command: CommandInProgress,
    code: ReaderErrorCode,
    status: "BAD" | "NO",
    responseCode: "TOOBIG" | null,
    message: string,
  ): ReaderErrorEvent {
    const tag = isValidTag(command.tag) ? command.tag : null;
    return { kind: "error", tag, commandName: command.commandName, code, status, responseCode, message };
  }

  #emit(event: ReaderEvent): void {
    this.#events.push(event);
  }
}

function stripCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
}
