/**
 * One POP3 connection: reads command lines, runs them strictly in order (a
 * pipelining client's whole buffer is answered in one write, RFC 2449 §6.6),
 * and moves through the RFC 1939 states AUTHORIZATION → TRANSACTION → UPDATE.
 *
 * Never crashes on input: every line gets exactly one response; backend
 * failures answer -ERR [SYS/TEMP] and the session continues (or, mid-RETR,
 * closes). Deletions are applied only by QUIT in TRANSACTION; a drop, a
 * timeout, a lost lock or a drain applies nothing.
 *
 * This file is the session's state and life cycle (start, close, drain, the
 * lost lock); the concerns around it live in session/: the socket and its
 * writes (connection.ts), one line to one response (dispatch.ts), RETR/TOP's
 * message body (send-message.ts).
 */
import type { Socket } from "node:net";
import {
  type Authenticator,
  type CredentialPrefetch,
  type TokenAuthenticator,
  watchRevocation,
} from "@aerogram/auth";
import type { Subscription } from "@aerogram/events";
import type { TtlCache } from "@aerogram/limits";
import {
  type IdleSession,
  type IdleSweeper,
  type LineEvent,
  LineSplitter,
  type TlsSource,
} from "@aerogram/net";
import type { Logger } from "@aerogram/observability";
import type { Maildrop, MaildropDeps, MaildropMessage } from "./maildrop.ts";
import type { BlobPath } from "./message-read.ts";
import type { Pop3Metrics } from "./metrics.ts";
import type { Command, CommandName } from "./protocol/commands.ts";
import { err, ok } from "./protocol/responses.ts";
import { ConnectionClosedError, Pop3Connection } from "./session/connection.ts";
import { dispatch } from "./session/dispatch.ts";
import { sendMessage } from "./session/send-message.ts";
import { nextSessionId } from "./session/session-id.ts";

/** The (IP, name) pairs that logged in lately (POP3_RECENT_LOGIN_*; see SessionDeps.recentLogins). */
export type RecentLogins = Pick<TtlCache<string, true>, "has" | "set">;

export type SessionState = "authorization" | "transaction" | "update" | "closed";

export interface SessionOptions {
  hostname: string;
  /** STLS is offered when set and the connection is not already TLS. */
  tls: TlsSource | undefined;
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
  /** OAUTHBEARER/XOAUTH2 (libs/auth oauth.ts); undefined without OIDC_ISSUER. */
  oauth?: TokenAuthenticator | undefined;
  metrics: Pop3Metrics;
  idle: IdleSweeper;
  options: SessionOptions;
  /**
   * "<ip> <login name>" pairs that logged in through this process lately: for
   * them USER reads the INBOX snapshot along with the credentials (see
   * authorization.ts), for anyone else only the credentials.
   */
  recentLogins: RecentLogins;
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

const LOCK_LOST = err("maildrop lock lost; no messages deleted", "SYS/TEMP");
const GREETING = "Aerogram POP3 ready";
const GREETING_LINE = ok(GREETING);

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

  /** Whether the last reply was +OK (for the commands_total result label). */
  lastReplyOk = false;

  private readonly connection: Pop3Connection;
  private readonly splitter: LineSplitter;
  private readonly queue: LineEvent[] = [];
  private busy = false;
  private draining = false;

  constructor(
    readonly deps: SessionDeps,
    socket: Socket,
    info: { remoteAddress: string; secure: boolean },
  ) {
    this.connection = new Pop3Connection(socket, {
      data: this.onData,
      sent: (octets) => deps.metrics.bytesSent.inc(octets),
      activity: () => deps.idle.touch(this),
    });
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
    this.connection.socket.once("close", () => this.onSocketClosed());
    this.connection.attach();
    // The idle limit restarts with every byte; the deadline doesn't, so a
    // client trickling bytes must still finish AUTHORIZATION in time.
    this.deps.idle.watch(this, this.options.idleMs, AUTHORIZATION_DEADLINE_MS);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.deps.idle.touch(this);
    for (const ev of this.splitter.push(chunk)) this.queue.push(ev);
    if (this.queue.length >= MAX_QUEUED_LINES) this.connection.pause();
    void this.pump();
  };

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0 && this.state !== "closed") {
        const ev = this.queue.shift()!;
        await dispatch(this, ev);
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
    this.connection.resume();
  }

  /** Queues a response line; written in one go when the pipeline is drained. */
  reply(response: Buffer): void {
    this.lastReplyOk = response[0] === 0x2b; // "+"
    this.connection.queue(response);
  }

  /**
   * Writes the queued replies now rather than when the pipeline is drained:
   * for a handler that starts backend work the client doesn't wait for (USER's
   * prefetch), so the answer isn't held up behind sending it.
   */
  flush(): void {
    if (this.state !== "closed") this.connection.flush();
  }

  /** Writes with backpressure after the queued replies; throws ConnectionClosedError when the peer is gone. */
  write(...data: Buffer[]): Promise<void> {
    if (this.state === "closed") return Promise.reject(new ConnectionClosedError());
    return this.connection.write(...data);
  }

  /** RETR and TOP (session/send-message.ts). */
  sendMessage(m: MaildropMessage, topLines?: number): Promise<void> {
    return sendMessage(this, m, topLines);
  }

  /** Makes a maildrop this session's (TRANSACTION state). */
  enterTransaction(maildrop: Maildrop): void {
    this.maildrop = maildrop;
    this.state = "transaction";
    this.pendingUser = undefined;
    // Logged in: the plain idle limit (RFC 1939 §3: at least 10 minutes) without the AUTHORIZATION deadline.
    this.deps.idle.watch(this, this.options.idleMs);
    this.deps.onMaildrop(this, true);
    // Credentials revoked on any replica (libs/auth session-revocation.ts): end like a lost lock,
    // after a running command and without applying deletions.
    this.revocation = watchRevocation(this.deps.events, maildrop.accountId, () => this.onRevoked());
  }

  private revocation: Subscription | undefined;

  private onRevoked(): void {
    if (this.state === "closed" || this.lockLost) return;
    this.log.info("POP3 session revoked: the account's credentials changed");
    if (this.busy) this.lockLost = true;
    else this.close(err("session ended: the account's credentials changed", "AUTH"));
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
    try {
      await this.connection.upgrade(context);
      this.secure = true;
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
    this.state = "closed";
    this.connection.end();
    this.finish();
  }

  /** Drops the connection without a word (failures mid-response). */
  destroy(): void {
    this.state = "closed";
    this.connection.destroy();
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
    this.revocation?.unsubscribe();
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
