/**
 * One POP3 connection: reads command lines, runs them strictly in order (a
 * pipelining client's whole buffer is answered in one write, RFC 2449 §6.6),
 * and moves through the RFC 1939 states AUTHORIZATION → TRANSACTION → UPDATE.
 *
 * Never crashes on input: every line gets exactly one response; backend
 * failures answer -ERR [SYS/TEMP] and the session continues (or, mid-RETR,
 * closes). Deletions are applied only by QUIT in TRANSACTION; a drop, a
 * timeout, a lost lock or a drain applies nothing.
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import type { SecureContext } from "node:tls";
import type { Authenticator, CredentialPrefetch } from "@aerogram/auth";
import { BlobNotFoundError } from "@aerogram/blobstore";
import {
  type IdleSession,
  type IdleSweeper,
  type LineEvent,
  LineSplitter,
  upgradeToTls,
} from "@aerogram/net";
import type { Logger } from "@aerogram/observability";
import { authorizationHandlers } from "./authorization.ts";
import type { Maildrop, MaildropDeps, MaildropMessage } from "./maildrop.ts";
import { type BlobPath, readWholeBlob, WHOLE_READ_MAX_OCTETS } from "./message-read.ts";
import type { Pop3Metrics } from "./metrics.ts";
import { type Command, type CommandName, parseCommand } from "./protocol/commands.ts";
import { DotStuffer } from "./protocol/dot-stuffing.ts";
import { err, ok } from "./protocol/responses.ts";
import { TopCutter } from "./protocol/top.ts";
import { transactionHandlers } from "./transaction.ts";

export type SessionState = "authorization" | "transaction" | "update" | "closed";

export interface SessionOptions {
  hostname: string;
  /** STLS is offered when set and the connection is not already TLS. */
  tls: SecureContext | undefined;
  /** Offer APOP (timestamp in the greeting) for accounts that have a POP3 secret. */
  apop: boolean;
  leaseMs: number;
  /** RFC 1939 §3: the autologout timer is at least 10 minutes. */
  idleMs: number;
  /** Longest command line (AUTH initial responses may exceed the 255-octet argument limit). */
  maxLineOctets: number;
}

export interface SessionDeps extends MaildropDeps {
  /** Set when blobs are files: RETR reads small ones directly. */
  blobPath: BlobPath | undefined;
  authenticator: Authenticator;
  metrics: Pop3Metrics;
  idle: IdleSweeper;
  options: SessionOptions;
  /** The service's registry of sessions holding a maildrop (lease renewal, drain). */
  onMaildrop(session: Pop3Session, held: boolean): void;
  onClosed(session: Pop3Session): void;
}

/** A handler for one command in one state. */
export type Handler<C extends Command = Command> = (session: Pop3Session, command: C) => Promise<void> | void;
export type HandlerTable = { [N in CommandName]?: Handler<Extract<Command, { name: N }>> };

/** A SASL exchange waiting for the client's next line. */
export type SaslStep = (session: Pop3Session, line: string) => Promise<void> | void;

/** Lines queued before reading pauses (a client pipelining more than this waits for TCP backpressure). */
const MAX_QUEUED_LINES = 64;
/** Total time a connection gets to finish AUTHORIZATION, however active it is. */
export const AUTHORIZATION_DEADLINE_MS = 5 * 60_000;

class ConnectionClosedError extends Error {}

const LOCK_LOST = err("maildrop lock lost; no messages deleted", "SYS/TEMP");
const GREETING = "Aerogram POP3 ready";
const GREETING_LINE = ok(GREETING);

/**
 * Session ids (logs, the APOP timestamp): a random per-process prefix and a
 * counter, unique without asking the CSPRNG on every connection. RFC 1939 §7
 * only needs the timestamp to differ each time; it is not a secret.
 */
const SESSION_ID_PREFIX = randomBytes(4).toString("hex");
let sessionCounter = 0;
function nextSessionId(): string {
  sessionCounter = (sessionCounter + 1) % Number.MAX_SAFE_INTEGER;
  return SESSION_ID_PREFIX + sessionCounter.toString(16);
}

export class Pop3Session implements IdleSession {
  state: SessionState = "authorization";
  secure: boolean;
  /** USER's name, waiting for PASS. */
  pendingUser: string | undefined;
  /** USER's credential lookup, started before PASS arrives. */
  prefetch: CredentialPrefetch | undefined;
  saslStep: SaslStep | undefined;
  maildrop: Maildrop | undefined;
  /** The APOP timestamp of the greeting (RFC 1939 §7), when APOP is offered. */
  readonly apopTimestamp: string | undefined;
  readonly log: Logger;
  readonly remoteAddress: string;

  private socket: Socket;
  private readonly splitter: LineSplitter;
  private readonly queue: LineEvent[] = [];
  private readonly pending: Buffer[] = [];
  private busy = false;
  private draining = false;

  constructor(
    readonly deps: SessionDeps,
    socket: Socket,
    info: { remoteAddress: string; secure: boolean },
  ) {
    this.socket = socket;
    this.secure = info.secure;
    this.remoteAddress = info.remoteAddress;
    this.splitter = new LineSplitter(deps.options.maxLineOctets);
    const id = nextSessionId();
    this.log = deps.log.child({ session: id, ip: info.remoteAddress, protocol: "pop3" });
    if (deps.options.apop) {
      this.apopTimestamp = `<${id}.${Date.now()}@${deps.options.hostname}>`;
    }
  }

  get options(): SessionOptions {
    return this.deps.options;
  }

  /** STLS may be offered: TLS is configured and not yet in use. */
  get canStartTls(): boolean {
    return this.options.tls !== undefined && !this.secure;
  }

  start(): void {
    // The greeting goes out first: the client waits for nothing else.
    this.reply(this.apopTimestamp ? ok(`${GREETING} ${this.apopTimestamp}`) : GREETING_LINE);
    this.flush();
    this.deps.metrics.sessions.inc();
    this.socket.once("close", () => this.onSocketClosed());
    this.attach(this.socket);
    // The idle limit restarts with every byte; the deadline doesn't, so a
    // client trickling bytes must still finish AUTHORIZATION in time.
    this.deps.idle.watch(this, this.options.idleMs, AUTHORIZATION_DEADLINE_MS);
  }

  private attach(socket: Socket): void {
    socket.on("data", this.onData);
    socket.on("error", () => {});
  }

  private readonly onData = (chunk: Buffer): void => {
    this.deps.idle.touch(this);
    for (const ev of this.splitter.push(chunk)) this.queue.push(ev);
    if (this.queue.length >= MAX_QUEUED_LINES) this.socket.pause();
    void this.pump();
  };

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0 && this.state !== "closed") {
        const ev = this.queue.shift()!;
        await this.handle(ev);
        if (this.lockLost) break;
        if (this.queue.length === 0) this.flush();
      }
    } catch (error) {
      if (!(error instanceof ConnectionClosedError)) this.log.error({ err: error }, "POP3 session failed");
      this.destroy();
    } finally {
      this.busy = false;
    }
    if (this.state === "closed") return;
    if (this.lockLost) {
      this.close(LOCK_LOST);
      return;
    }
    this.flush();
    if (this.draining && this.state === "authorization") {
      this.close(err("server shutting down", "SYS/TEMP"));
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
  }

  private async handle(ev: LineEvent): Promise<void> {
    if (ev.kind === "too-long") {
      this.saslStep = undefined;
      this.count("unknown", false);
      this.reply(err("line too long"));
      return;
    }
    const line = ev.line.toString("utf8");
    if (this.saslStep) {
      const step = this.saslStep;
      this.saslStep = undefined;
      await step(this, line);
      return;
    }
    const started = performance.now();
    const parsed = parseCommand(line);
    if (!parsed.ok) {
      this.count(parsed.name ?? "unknown", false);
      this.reply(err(parsed.message));
      return;
    }
    const command = parsed.command;
    const table = this.state === "authorization" ? authorizationHandlers : transactionHandlers;
    const handler = table[command.name] as Handler | undefined;
    if (!handler) {
      this.count(command.name, false);
      this.reply(
        command.name === "LAST"
          ? err("LAST is not supported (obsolete since RFC 1939)")
          : err(`${command.name} is not valid in the ${this.state.toUpperCase()} state`),
      );
      return;
    }
    this.lastResultOk = false;
    try {
      await handler(this, command);
    } catch (error) {
      if (error instanceof ConnectionClosedError) throw error;
      this.log.error({ err: error, command: command.name }, "POP3 command failed");
      this.reply(err("temporary failure, try again later", "SYS/TEMP"));
    }
    this.count(command.name, this.lastResultOk);
    this.deps.metrics.observeDuration(command.name, (performance.now() - started) / 1000);
  }

  /** Whether the last reply was +OK (for the commands_total result label). */
  private lastResultOk = false;

  private count(command: string, okResult: boolean): void {
    this.deps.metrics.countCommand(command, okResult);
  }

  /** Queues a response line; written in one go when the pipeline is drained. */
  reply(response: Buffer): void {
    this.lastResultOk = response[0] === 0x2b; // "+"
    this.pending.push(response);
  }

  /**
   * Writes the queued replies now rather than when the pipeline is drained:
   * for a handler that starts backend work the client doesn't wait for (USER's
   * prefetch), so the answer isn't held up behind sending it.
   */
  flush(): void {
    if (this.pending.length === 0 || this.state === "closed") return;
    const out = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending.length = 0;
    this.deps.metrics.bytesSent.inc(out.length);
    this.socket.write(out);
  }

  /**
   * Writes with backpressure (message bodies), after any queued replies, in
   * one corked batch (one writev, no concatenation); throws when the peer is
   * gone.
   */
  private async write(...data: Buffer[]): Promise<void> {
    if (this.state === "closed" || this.socket.destroyed) throw new ConnectionClosedError();
    const parts = this.pending.length > 0 ? [...this.pending.splice(0), ...data] : data;
    let octets = 0;
    for (const p of parts) octets += p.length;
    if (octets === 0) return;
    this.deps.metrics.bytesSent.inc(octets);
    this.deps.idle.touch(this);
    let flowing = true;
    if (parts.length === 1) {
      flowing = this.socket.write(parts[0]!);
    } else {
      this.socket.cork();
      for (const p of parts) if (p.length > 0) flowing = this.socket.write(p);
      this.socket.uncork();
    }
    if (flowing) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        this.socket.off("close", onClose);
        resolve();
      };
      const onClose = () => {
        this.socket.off("drain", onDrain);
        reject(new ConnectionClosedError());
      };
      this.socket.once("drain", onDrain);
      this.socket.once("close", onClose);
    });
  }

  /**
   * RETR and TOP: "+OK", the (cut) message byte-stuffed in CRLF form, ".".
   * A message of up to WHOLE_READ_MAX_OCTETS is read whole and answered in
   * one write; a larger one streams. A failure before the first byte answers
   * -ERR; after it, the response can't be repaired, so the connection closes
   * (applying nothing).
   */
  async sendMessage(m: MaildropMessage, topLines?: number): Promise<void> {
    let whole: Buffer | undefined;
    let body: Readable | undefined;
    try {
      if (m.storedOctets <= WHOLE_READ_MAX_OCTETS) {
        whole = await readWholeBlob(this.deps.blobs, m.blobKey, m.storedOctets, this.deps.blobPath);
      }
      if (!whole) body = await this.deps.blobs.get(m.blobKey);
    } catch (error) {
      if (error instanceof BlobNotFoundError) {
        this.log.error({ blobKey: m.blobKey }, "message blob missing");
        this.reply(err("message content unavailable", "SYS/PERM"));
        return;
      }
      throw error;
    }
    this.reply(ok(topLines === undefined ? `${m.octets} octets` : "top of message follows"));
    const stuffer = new DotStuffer();
    const cutter = topLines === undefined ? undefined : new TopCutter(topLines);
    try {
      if (whole) {
        const parts: Buffer[] = [];
        stuffer.pushInto(cutter ? cutter.push(whole) : whole, parts);
        parts.push(stuffer.end());
        await this.write(...parts);
        return;
      }
      for await (const chunk of body as AsyncIterable<Buffer>) {
        await this.write(stuffer.push(cutter ? cutter.push(chunk) : chunk));
        if (cutter?.done) break;
      }
      await this.write(stuffer.end());
    } catch (error) {
      if (!(error instanceof ConnectionClosedError)) {
        this.log.error({ err: error, blobKey: m.blobKey }, "reading a message failed mid-response");
      }
      this.destroy();
      throw new ConnectionClosedError();
    } finally {
      body?.destroy();
    }
  }

  /** Makes a maildrop this session's (TRANSACTION state). */
  enterTransaction(maildrop: Maildrop): void {
    this.maildrop = maildrop;
    this.state = "transaction";
    this.pendingUser = undefined;
    // Logged in: the plain idle limit (RFC 1939 §3: at least 10 minutes) without the AUTHORIZATION deadline.
    this.deps.idle.watch(this, this.options.idleMs);
    this.deps.onMaildrop(this, true);
  }

  /**
   * STLS (RFC 2595 §4): after "+OK", read nothing more in plaintext; anything
   * the client pipelined after STLS is discarded, then the handshake runs.
   */
  async startTls(): Promise<void> {
    const context = this.options.tls;
    if (!context) throw new Error("STLS without TLS configuration");
    this.reply(ok("begin TLS negotiation"));
    this.flush();
    this.queue.length = 0;
    this.splitter.reset();
    const plain = this.socket;
    plain.off("data", this.onData);
    try {
      const tls = await upgradeToTls(plain, context);
      this.socket = tls;
      this.secure = true;
      this.attach(tls);
    } catch (error) {
      this.log.info({ err: error }, "STLS handshake failed");
      this.destroy();
      throw new ConnectionClosedError();
    }
  }

  /** Ends the session after writing `last` (QUIT's answer, an error). */
  close(last?: Buffer): void {
    if (this.state === "closed") return;
    if (last) this.reply(last);
    this.flush();
    this.state = "closed";
    this.socket.end();
    // A peer that never closes its side doesn't keep the socket.
    setTimeout(() => this.socket.destroy(), 5000).unref();
    this.finish();
  }

  /** Drops the connection without a word (failures mid-response). */
  destroy(): void {
    this.state = "closed";
    this.socket.destroy();
    this.finish();
  }

  onIdleTimeout(): void {
    this.log.info("POP3 autologout");
    this.close(err("autologout; idle for too long"));
  }

  /**
   * The lease was lost (Redis said so, e.g. it restarted empty): another
   * session may own the maildrop now. A command in progress (a RETR) finishes
   * first, then the session closes with -ERR [SYS/TEMP] without applying
   * deletions (QUIT's commit re-checks the lease itself), so the client sees
   * a temporary error rather than a connection cut mid-response.
   */
  onLockLost(): void {
    if (this.state === "closed" || this.lockLost) return;
    this.log.warn("POP3 maildrop lock lost; closing without applying deletions");
    if (this.busy) this.lockLost = true;
    else this.close(LOCK_LOST);
  }

  /** Set while a command runs when the lease is lost: the session closes after it. */
  private lockLost = false;

  /** Drain began: AUTHORIZATION sessions that are idle go now; the others may finish within the grace. */
  beginDrain(): void {
    this.draining = true;
    if (this.state === "authorization" && !this.busy) this.close(err("server shutting down", "SYS/TEMP"));
  }

  /** Drain grace is over: close without applying deletions. */
  endDrain(): void {
    if (this.state === "closed") return;
    if (this.busy) this.destroy();
    else this.close(err("server shutting down", "SYS/TEMP"));
  }

  private onSocketClosed(): void {
    this.state = "closed";
    this.finish();
  }

  private finished = false;

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.deps.metrics.sessions.dec();
    this.deps.idle.unwatch(this);
    this.queue.length = 0;
    const maildrop = this.maildrop;
    if (maildrop) {
      this.deps.onMaildrop(this, false);
      // Releasing while a QUIT commit still runs would let another session in
      // before the deletes land; QUIT releases itself when done.
      if (!this.committing) void maildrop.release();
    }
    this.deps.onClosed(this);
  }

  /** QUIT's UPDATE step is running. */
  committing = false;
}
