/**
 * The parts of RFC 5321 that smtp-server's connection handles differently from
 * what we promise, fixed in a subclass of its connection and command parser:
 *
 * - A command line longer than 512 octets (RFC 5321 §4.5.3.1.4) gets
 *   "500 5.5.2 Line too long" and the session continues; smtp-server would end
 *   the session with 421 (and only at 16 KiB). Over-long input is discarded as
 *   it arrives, so a 100 KB line costs no memory.
 * - TURN and the other obsolete commands (RFC 5321 appendix F: TURN, SEND,
 *   SOML, SAML), EXPN and BDAT (CHUNKING is not offered) are recognised but
 *   not implemented: 502 5.5.1 (RFC 5321 §4.2.4). Unknown commands keep
 *   smtp-server's 500 5.5.2, as §4.2.4 asks.
 * - Reply texts that start with an enhanced status code (SmtpReply) are sent
 *   with that code instead of smtp-server's default for the reply code.
 * - Overall deadlines per command and per message (deadlines.ts), which
 *   trickled bytes do not extend: 421 4.4.2 and close.
 * - The replies smtp-server sends itself for a configured limit (SIZE,
 *   recipients, idle timeout) are reported to `onLimit`, for the metric.
 * - The greeting waits `greetingDelayMs` (smtp-server: a fixed 100 ms) for a
 *   client that talks before it (RFC 5321 §4.3.1 has the client wait for the
 *   220; early talkers are mostly spam bots), answered "421 You talk too soon".
 *   With a new connection per message that wait is a fixed cost per message,
 *   so SMTP-in makes it configurable (SMTP_GREETING_DELAY_MS).
 */
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";
import { SMTPStream } from "smtp-server/lib/smtp-stream.js";
import type { SmtpDeadlines } from "./deadlines.ts";
import type { SmtpLimitName } from "./limit-names.ts";
import { ENHANCED_PREFIX } from "./smtp-errors.ts";

/** RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF. */
export const MAX_COMMAND_LINE_OCTETS = 512;

/**
 * RFC 4954 §4: SASL responses (AUTH's continuation lines) may be up to 12288
 * octets; AUTH with an initial response is held to the same (OAuth bearer
 * tokens are longer than 512 octets, and clients send them inline anyway).
 */
export const MAX_AUTH_LINE_OCTETS = 12288;

/** Stand-in line handed to the command handler for a line that was too long. */
const LINE_TOO_LONG = Buffer.from("\u0000LINE-TOO-LONG\r\n", "latin1");

type Callback = (err?: Error | null) => void;

const NOT_IMPLEMENTED = new Set(["TURN", "SEND", "SOML", "SAML", "EXPN", "BDAT", "ATRN", "ETRN"]);

/**
 * The command parser with a bounded command line: bytes of a line beyond the
 * limit are dropped and the whole line is replaced by LINE_TOO_LONG. Message
 * data (DATA mode) passes through untouched.
 */
export class BoundedCommandStream extends SMTPStream {
  private lineOctets = 0;
  private discarding = false;
  /** The limit of the line being read (set at its first octets). */
  private lineMax = MAX_COMMAND_LINE_OCTETS;
  /** The connection is in a SASL exchange: the next line is a response (set by the connection). */
  inSaslExchange: () => boolean = () => false;

  override _write(chunk: Buffer, encoding: BufferEncoding | "buffer", next: Callback): void {
    if (this._dataMode || !chunk?.length) {
      this.lineOctets = 0;
      this.discarding = false;
      super._write(chunk, encoding, next);
      return;
    }
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl === -1 ? chunk.length : nl + 1;
      const piece = chunk.subarray(pos, end);
      if (this.lineOctets === 0 && !this.discarding) {
        const auth = this.inSaslExchange() || /^AUTH /i.test(piece.subarray(0, 5).toString("latin1"));
        this.lineMax = auth ? MAX_AUTH_LINE_OCTETS : MAX_COMMAND_LINE_OCTETS;
      }
      if (this.discarding) {
        if (nl !== -1) {
          out.push(LINE_TOO_LONG);
          this.discarding = false;
          this.lineOctets = 0;
        }
      } else if (this.lineOctets + piece.length > this.lineMax) {
        if (this.lineOctets > 0) {
          // The line's head went to the parser with an earlier chunk and sits
          // there as a partial line: end it now and have the command handler
          // skip it; LINE_TOO_LONG stands for the whole line.
          out.push(Buffer.from("\r\n"));
          this.swallowNextCommand = true;
        }
        this.lineOctets = 0;
        if (nl !== -1) out.push(LINE_TOO_LONG);
        else this.discarding = true;
      } else {
        out.push(piece);
        this.lineOctets = nl === -1 ? this.lineOctets + piece.length : 0;
      }
      pos = end;
    }
    if (out.length === 0) {
      next();
      return;
    }
    super._write(Buffer.concat(out), encoding, next);
  }

  /** True when the next command is the truncated head of a too-long line (answered by LINE_TOO_LONG). */
  swallowNextCommand = false;

  /** Message octets as they are received (after dot-unstuffing). */
  onDataOctets: (octets: number) => void = () => {};
  /** The final dot has arrived. */
  onDataEnd: () => void = () => {};

  override _countDataBytes(len: number): void {
    super._countDataBytes(len);
    if (len > 0) this.onDataOctets(len);
  }

  override _endDataMode(chunk: Buffer | false, remainder: Buffer, callback: Callback): void {
    this.onDataEnd();
    super._endDataMode(chunk, remainder, callback);
  }
}

export class AerogramSmtpConnection extends SMTPConnection {
  /** Set by the server before init(); absent: no deadlines beyond the idle timeout. */
  deadlines: SmtpDeadlines | undefined;
  /** Set by the server before init(): a configured limit tripped. */
  onLimit: (limit: SmtpLimitName) => void = () => {};
  /** Set by the server before init(): how long the greeting waits for an early talker (0: none). */
  greetingDelayMs = 100;

  /** smtp-server's init() with the greeting's wait configurable (see the module comment). */
  override init(): void {
    this._setListeners(() => {
      const options = this._server.options;
      if (options.maxClients && this._server.connections.size > options.maxClients) {
        this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      if (this.greetingDelayMs <= 0) {
        this.connectionReady();
        return;
      }
      // Unref'd so a connection waiting for its greeting does not keep the process alive.
      setTimeout(() => this.connectionReady(), this.greetingDelayMs).unref();
    });
  }

  /** Called by the deadline sweeper (IdleSession) when the phase's time is up. */
  onIdleTimeout(): void {
    this.onLimit(this._parser !== false && this._parser._dataMode ? "data_deadline" : "command_deadline");
    // RFC 5321 §4.5.3.2 timeouts; 4.4.2 "bad connection" (RFC 3463).
    this.send(421, `4.4.2 ${this.name} Error: timeout exceeded`);
  }

  override _onClose(): void {
    this.deadlines?.pause(this);
    super._onClose();
  }

  override _createParser(): SMTPStream {
    const parser = new BoundedCommandStream({ maxCommandLength: MAX_AUTH_LINE_OCTETS * 2 });
    parser.inSaslExchange = () => this._nextHandler !== false;
    parser.onDataOctets = (octets) => this.deadlines?.received(this, octets);
    // After the dot the server owes the reply: delivery time is not the client's.
    parser.onDataEnd = () => this.deadlines?.pause(this);
    parser.oncommand = (command: Buffer, callback?: () => void) => {
      // A whole line is in: the server owes the reply, the command deadline stops.
      this.deadlines?.pause(this);
      if (parser.swallowNextCommand) {
        // The head of a line that turned out too long: its reply is LINE_TOO_LONG's.
        parser.swallowNextCommand = false;
        callback?.();
        return;
      }
      this._onCommand(command, callback);
    };
    parser.on("error", (err: Error) => this.send(421, `4.4.2 Error: ${err.message}`));
    return parser;
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    const next = () => setImmediate(() => callback?.());
    if (command.length > 0 && command[0] === 0 && command.toString("latin1") === "\u0000LINE-TOO-LONG") {
      this.send(500, "5.5.2 Line too long (RFC 5321 §4.5.3.1.4: 512 octets)");
      next();
      return;
    }
    const name = command.toString("latin1").split(" ", 1)[0]!.toUpperCase();
    if (NOT_IMPLEMENTED.has(name)) {
      this.send(502, `5.5.1 ${name} not implemented`);
      next();
      return;
    }
    super._onCommand(command, callback);
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    // smtp-server's own refusals for the limits it enforces (its reply texts and contexts).
    if (context === "MESSAGE_TOO_BIG") this.onLimit("message_size");
    else if (context === "TOO_MANY_RECIPIENTS") this.onLimit("recipients");
    else if (code === 421 && data === "Timeout - closing connection") this.onLimit("idle_timeout");
    if (typeof data === "string" && ENHANCED_PREFIX.test(data)) super.send(code, data, false);
    else super.send(code, data, context);
    // A reply hands the turn to the client: its next command, or after 354 the message, is owed.
    if (code === 421 || this._closing) this.deadlines?.pause(this);
    else if (this._parser !== false && this._parser._dataMode) this.deadlines?.awaitData(this);
    else this.deadlines?.awaitCommand(this);
  }
}
