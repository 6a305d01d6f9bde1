/**
 * One IMAP connection: the state machine (RFC 9051 §3) around the protocol
 * library's reader and parser, and the command handlers.
 *
 *   socket bytes → CommandReader (framing, literal limits) → events, pulled one at
 *   a time by run(); commands are parsed and dispatched through COMMAND_HANDLERS in
 *   order (pipelined commands are read ahead but run sequentially, which satisfies
 *   every ordering rule of RFC 9051 §5.5), and after each command in the selected
 *   state the view is synced (mailbox-sync.ts) so other sessions' changes show up.
 *
 * The concerns around it each have their file:
 *   session-input.ts  socket bytes → reader events, input backpressure, STARTTLS swap
 *   output.ts         responses → one socket write per batch, output backpressure
 *   uploads.ts        streamed APPEND literals → the blob store
 *   live-updates.ts   how an update reaches a client (events, IDLE push)
 *   client-family.ts  which client this is (ID, Outlook's tags), for the metrics
 *
 * A session costs one socket, this record, a reader and (when selected) a compact
 * SelectedMailbox; no timers of its own (IdleSweeper and the server's poll tick).
 */
import type { Socket } from "node:net";
import { watchRevocation } from "@aerogram/auth";
import type { Subscription } from "@aerogram/events";
import {
  allowsExpungeResponses,
  atom,
  type Command,
  CommandReader,
  commandTableName,
  continuation,
  flagList,
  isValidInState,
  parseCommand,
  type ReaderEvent,
  type ResponseChunk,
  responseCodes,
  type SessionState,
  tagged,
  untagged,
  untaggedStatus,
  type WriterOptions,
} from "@aerogram/imap-protocol";
import { upgradeToTls } from "@aerogram/net";
import type { Logger } from "@aerogram/observability";
import type { Account } from "@aerogram/store";
import { authenticatedCapabilities, preAuthCapabilities } from "./capabilities.ts";
import { ClientRecognizer } from "./client-family.ts";
import { COMMAND_HANDLERS, type CommandResult } from "./commands/index.ts";
import { deflateTransport } from "./compress.ts";
import type { ServerContext } from "./context.ts";
import { ImapError } from "./errors.ts";
import { LiveUpdates } from "./live-updates.ts";
import { MailboxGoneError, syncSelected } from "./mailbox-sync.ts";
import { eventAccountOf } from "./namespaces.ts";
import { Output } from "./output.ts";
import { permittedFlags } from "./rights.ts";
import type { SelectedMailbox } from "./selected-mailbox.ts";
import { SessionInput } from "./session-input.ts";
import { Uploads } from "./uploads.ts";

export type { Upload } from "./uploads.ts";

export class Session {
  state: SessionState | "logout" = "not-authenticated";
  account: Account | null = null;
  selected: SelectedMailbox | null = null;
  /** Upper-cased capabilities turned on by ENABLE (or implicitly, CONDSTORE). */
  readonly enabled = new Set<string>();
  /** SEARCH RETURN (SAVE) result, as UIDs (RFC 5182). */
  savedSearch: number[] | null = null;
  idling = false;
  /** When the running IDLE began (Date.now()); hibernate.ts hibernates long ones. */
  idlingSince = 0;
  /** The running IDLE's tag (its tagged OK ends it, also after a hibernation). */
  idleTag: string | null = null;
  /** The IDLE being dispatched continues one that hibernated: its "+ idling" was sent. */
  resumingIdle = false;
  /** False while something wraps the socket that a hibernated record cannot (e.g. COMPRESS). */
  hibernatable = true;
  /** Streamed APPEND literals of the command being read, by literal index. */
  readonly uploads: Uploads;
  /** The client's family (metrics label), from ID or Outlook's tags. */
  readonly client = new ClientRecognizer();
  /** Runs after the tagged response is written (STARTTLS, LOGOUT). */
  afterTagged: (() => Promise<void>) | null = null;
  /** performance.now() when the running command started: no read it made started earlier (mailbox-heads.ts). */
  commandStartedAt = 0;

  readonly reader: CommandReader;
  readonly out: Output;
  readonly #input: SessionInput;
  readonly #updates: LiveUpdates;
  #socket: Socket;
  #secure: boolean;
  #closed = false;
  /** Handed over to a hibernated record (hibernate.ts): close() no longer applies. */
  #hibernated = false;
  /** The socket whose "close" ends this session (the plain one, also after STARTTLS). */
  readonly #closeSource: Socket;
  readonly #onSocketClose = () => this.close();
  #compressed = false;
  #busy = false;
  #revocation: Subscription | null = null;
  #drainRequested = false;
  /** Input/output byte counts already added to the client-family metric. */
  #countedIn = 0;
  #countedOut = 0;
  /** Releases the account's wake-ups in ctx.heads (while a mailbox is selected). */
  #releaseHeads: (() => void) | null = null;

  constructor(
    readonly ctx: ServerContext,
    socket: Socket,
    readonly remoteAddress: string,
    secure: boolean,
    readonly log: Logger,
    private readonly hooks: {
      onClose(session: Session): void;
      touch(session: Session, limitMs?: number): void;
      /** An IDLE push sync failed on a backend error: the server's poll retries it soon. */
      onSyncFailed?(session: Session): void;
    },
  ) {
    this.#socket = socket;
    this.#secure = secure;
    this.out = new Output(socket);
    this.uploads = new Uploads(ctx.delivery);
    this.#updates = new LiveUpdates(this, hooks.onSyncFailed ? () => hooks.onSyncFailed?.(this) : undefined);
    this.reader = new CommandReader({
      maxLiteralSize: ctx.limits.appendLimitBytes,
      // Before login nothing may be uploaded: an APPEND literal is refused before
      // the continuation, so no blob is ever written for an anonymous client. After
      // it, a message larger than the account's whole quota can never be stored:
      // refused the same way (NO [TOOBIG] instead of "+", RFC 9051 §7.1) rather than
      // uploaded and then refused with OVERQUOTA.
      literalLimit: () =>
        this.state === "not-authenticated"
          ? 0
          : Math.min(ctx.limits.appendLimitBytes, this.account?.quotaBytes ?? Number.POSITIVE_INFINITY),
    });
    this.#input = new SessionInput(socket, this.reader, () => this.hooks.touch(this));
    this.#closeSource = socket;
    socket.once("close", this.#onSocketClose);
  }

  get secure(): boolean {
    return this.#secure;
  }
  get rev2(): boolean {
    return this.enabled.has("IMAP4REV2");
  }
  get utf8(): boolean {
    return this.rev2 || this.enabled.has("UTF8=ACCEPT");
  }
  get condstore(): boolean {
    return this.enabled.has("CONDSTORE") || this.enabled.has("QRESYNC");
  }
  get qresync(): boolean {
    return this.enabled.has("QRESYNC");
  }
  get writerOptions(): WriterOptions {
    return { utf8: this.utf8 };
  }
  get closed(): boolean {
    return this.#closed;
  }

  /** Plaintext LOGIN/AUTHENTICATE: always over TLS; without TLS only in dev or on loopback. */
  get plaintextAllowed(): boolean {
    return this.#secure || !this.ctx.tls || isLoopback(this.remoteAddress);
  }

  capabilities(): string[] {
    if (this.state === "not-authenticated") {
      return preAuthCapabilities({
        starttls: Boolean(this.ctx.tls) && !this.#secure,
        loginDisabled: !this.plaintextAllowed,
        oauth: this.ctx.oauth !== undefined,
      });
    }
    return authenticatedCapabilities(this.ctx.limits.appendLimitBytes);
  }

  async send(chunks: readonly ResponseChunk[]): Promise<void> {
    await this.out.send(chunks);
  }

  /**
   * Turns CONDSTORE on implicitly (a MODSEQ fetch or search, CHANGEDSINCE, ...);
   * RFC 7162 §3.1: the first such command in a selected mailbox gets an untagged
   * OK [HIGHESTMODSEQ].
   */
  async enableCondstore(): Promise<void> {
    if (this.condstore) return;
    this.enabled.add("CONDSTORE");
    if (this.selected) {
      await this.send([untaggedStatus("OK", "Highest", responseCodes.highestModseq(this.selected.modseq))]);
    }
  }

  /** `* FLAGS` and `* OK [PERMANENTFLAGS]` for the selected mailbox. */
  flagsResponses(): ResponseChunk[] {
    const view = this.selected;
    if (!view) return [];
    const system = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];
    const keywords = [...view.knownKeywords];
    return [
      ...untagged([atom("FLAGS"), flagList([...system, ...keywords])]),
      untaggedStatus(
        "OK",
        view.readOnly ? "No permanent flags permitted" : "Flags permitted",
        responseCodes.permanentFlags(
          view.readOnly ? [] : permittedFlags(view, [...system, ...keywords, "\\*"]),
        ),
      ),
    ];
  }

  /** After login: the autologout applies (IMAP_AUTOLOGOUT_MS; RFC 9051 §5.4: at least 30 minutes). */
  onAuthenticated(): void {
    this.hooks.touch(this, this.ctx.limits.autologoutMs);
    // Credentials revoked on any replica (libs/auth session-revocation.ts): end this session.
    if (this.account)
      this.#revocation = watchRevocation(this.ctx.runtime.events, this.account.id, () => this.revoke());
  }

  /** Credentials changed: BYE now when between commands or idling, else after the running command. */
  revoke(): void {
    this.#drainRequested = true;
    if (!this.#busy || this.idling) void this.bye(null, "Session ended: the account's credentials changed");
  }

  // ---- lifecycle ---------------------------------------------------------------

  /** The command loop; with `resumeIdleTag`, first the rest of a hibernated IDLE (hibernate.ts). */
  async run(resumeIdleTag?: string): Promise<void> {
    try {
      if (resumeIdleTag === undefined) {
        await this.send([
          untaggedStatus("OK", "Aerogram IMAP ready", responseCodes.capability(this.capabilities())),
        ]);
        await this.out.endResponse();
      } else {
        this.resumingIdle = true;
        await this.#dispatch({ name: "IDLE", tag: resumeIdleTag, uid: false });
      }
      for (;;) {
        const event = await this.nextEvent();
        if (!event) break;
        await this.#handle(event);
        if (this.#closed) break;
        if (this.#drainRequested) {
          await this.bye("UNAVAILABLE", "Server shutting down");
          break;
        }
      }
    } catch (err) {
      if (!this.#closed) this.log.debug({ err }, "session ended with an error");
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.#closed || this.#hibernated) return;
    this.#closed = true;
    this.idling = false;
    this.#updates.close();
    this.#releaseHeads?.();
    this.#releaseHeads = null;
    this.#revocation?.unsubscribe();
    this.uploads.destroyAll();
    this.#countClient(false);
    // end() flushes what is queued (a BYE) before the FIN; a peer that never reads
    // it can't hold the socket open for long.
    const socket = this.#socket;
    this.out.flushNow();
    socket.end();
    setTimeout(() => socket.destroy(), 2000).unref();
    this.#input.close();
    this.hooks.onClose(this);
  }

  /** `* BYE [code] text`, then the connection closes. */
  async bye(code: string | null, text: string): Promise<void> {
    try {
      await this.send([untaggedStatus("BYE", text, code)]);
      await this.out.endResponse();
    } catch {
      // the peer is gone already
    }
    this.close();
  }

  /** Server drain: BYE now when between commands or idling, else after the running command. */
  drain(): void {
    this.#drainRequested = true;
    if (!this.#busy || this.idling) void this.bye("UNAVAILABLE", "Server shutting down");
  }

  onIdleTimeout(): void {
    void this.bye(null, "Autologout; idle for too long");
  }

  /**
   * Hibernation (hibernate.ts): when idling with nothing in flight, lets go of the
   * socket without closing it, so this object, its reader, buffers and the IDLE
   * handler's pending read become garbage; null when it cannot hibernate now.
   */
  releaseForHibernation(): Socket | null {
    const view = this.selected;
    if (!this.idling || this.#closed || this.#hibernated || !this.hibernatable || this.#drainRequested)
      return null;
    if (!view || !this.account || view.pendingExpunges.size > 0 || this.afterTagged) return null;
    // Another account's mailbox (ACL): its rights and owner live with the live view (namespaces.ts).
    if (eventAccountOf(this, view) !== this.account.id) return null;
    if (this.reader.bufferedBytes > 0 || !this.#updates.quiet || this.out.midResponse || this.out.hasPending)
      return null;
    const socket = this.#socket;
    if (socket.destroyed || socket.writableLength > 0) return null;
    this.#countClient(false);
    this.#hibernated = true;
    this.#updates.close();
    // The record takes over revocation (hibernate.ts) and the heads watch; nothing may keep this object alive.
    this.#revocation?.unsubscribe();
    this.#revocation = null;
    this.#releaseHeads?.();
    this.#releaseHeads = null;
    this.#input.detach();
    this.#closeSource.off("close", this.#onSocketClose);
    return socket;
  }

  /** Bytes that arrived while hibernated, read before anything newer (hibernate.ts). */
  receiveInput(chunk: Buffer): void {
    this.#input.receive(chunk);
  }

  // ---- input -------------------------------------------------------------------

  /** The next reader event, waiting for input; null once the connection closed. */
  nextEvent(): Promise<ReaderEvent | null> {
    return this.#input.nextEvent();
  }

  /** One raw line (AUTHENTICATE responses, IDLE's DONE); null when the connection closed. */
  readLine(): Promise<Buffer | null> {
    return this.#input.readLine();
  }

  async #handle(event: ReaderEvent): Promise<void> {
    switch (event.kind) {
      case "command": {
        const parsed = parseCommand(event.command, { mailboxEncoding: this.utf8 ? "utf8" : "mutf7" });
        if (parsed.ok) this.client.onTag(parsed.command.tag);
        if (!parsed.ok) {
          this.uploads.clear();
          const { tag, status, responseCode, message } = parsed.error;
          this.ctx.metrics.command("UNKNOWN", status.toLowerCase());
          await this.send([
            tag === null
              ? untaggedStatus("BAD", message, responseCode)
              : tagged(tag, status, message, responseCode),
          ]);
          await this.out.endResponse();
          return;
        }
        await this.#dispatch(parsed.command);
        this.uploads.clear();
        return;
      }
      case "need-continuation":
        await this.send([continuation("Ready for literal data")]);
        await this.out.endResponse();
        return;
      case "literal-start":
        this.uploads.start(event.index);
        return;
      case "literal-chunk":
        await this.uploads.write(event.index, event.data);
        return;
      case "literal-end":
        this.uploads.end(event.index);
        return;
      case "line":
        return; // a stray line outside AUTHENTICATE/IDLE: nothing waits for it
      case "error":
        this.uploads.clear();
        this.ctx.metrics.command("UNKNOWN", event.status.toLowerCase());
        await this.send([
          event.tag === null
            ? untaggedStatus("BAD", event.message, event.responseCode)
            : tagged(event.tag, event.status, event.message, event.responseCode),
        ]);
        await this.out.endResponse();
        // A refused non-synchronizing literal too big to skip is still arriving: the stream
        // cannot be resynchronised, so the session ends here (RFC 7888 §4).
        if (event.closesConnection)
          await this.bye("TOOBIG", "Non-synchronizing literal too big to skip; closing the connection");
        return;
    }
  }

  // ---- commands ----------------------------------------------------------------

  async #dispatch(command: Command): Promise<void> {
    const name = commandTableName(command);
    const started = performance.now();
    this.commandStartedAt = started;
    let result: CommandResult;
    this.#busy = true;
    try {
      if (this.state === "logout" || !isValidInState(command, this.state)) {
        result = {
          condition: "BAD",
          text: `${name} is not valid in the ${this.state} state`,
        };
      } else {
        if (this.selected) this.selected.knownHead = null;
        const handler = COMMAND_HANDLERS[command.name] as (s: Session, c: Command) => Promise<CommandResult>;
        result = await handler(this, command);
        if (this.selected && result.condition !== "BAD" && !SELF_SYNCING.has(command.name)) {
          try {
            await this.send(await syncSelected(this, allowsExpungeResponses(command), true));
          } catch (err) {
            if (err instanceof MailboxGoneError) throw err;
            this.log.warn({ err }, "mailbox sync after command failed");
          }
        }
      }
    } catch (err) {
      result = await this.#failure(err);
    }
    if (this.#closed) return;
    try {
      await this.send([tagged(command.tag, result.condition, result.text, result.code ?? null)]);
      const after = this.afterTagged;
      this.afterTagged = null;
      // Another pipelined command is already here: its answer may share this write.
      await this.out.endResponse({ more: !after && this.reader.bufferedBytes > 0 });
      if (after) await after();
    } catch {
      this.close();
    } finally {
      this.#busy = false;
    }
    const label = command.name;
    this.ctx.metrics.command(label, result.condition.toLowerCase());
    this.#countClient(true);
    if (command.name !== "IDLE")
      this.ctx.metrics.duration.observe({ command: label }, (performance.now() - started) / 1000);
  }

  async #failure(err: unknown): Promise<CommandResult> {
    if (err instanceof ImapError) return { condition: err.condition, text: err.message, code: err.code };
    if (err instanceof MailboxGoneError) {
      await this.bye(null, "The selected mailbox was deleted or recreated");
      return { condition: "NO", text: "Mailbox gone" };
    }
    if (this.out.midResponse) {
      // Part of a response is on the wire; the stream can't be resynchronised.
      this.log.warn({ err }, "backend failure in the middle of a response; closing");
      this.close();
      return { condition: "NO", text: "closed" };
    }
    this.log.warn({ err }, "command failed on a backend error");
    return {
      condition: "NO",
      text: "Backend temporarily unavailable, try again",
      code: responseCodes.unavailable(),
    };
  }

  /** Commands and bytes by client family (bounded label; client-family.ts). */
  #countClient(command: boolean): void {
    const read = this.#input.bytesRead;
    const written = this.out.bytesWritten;
    this.ctx.metrics.client(
      this.client.family,
      command ? 1 : 0,
      Math.max(0, read - this.#countedIn),
      Math.max(0, written - this.#countedOut),
    );
    this.#countedIn = read;
    this.#countedOut = written;
  }

  // ---- selected mailbox & live updates (live-updates.ts) -------------------------

  select(view: SelectedMailbox | null): void {
    this.selected = view;
    this.savedSearch = null;
    this.state = view ? "selected" : "authenticated";
    // A shared mailbox's events are on its owner's subject (namespaces.ts).
    this.#updates.watch(view && this.account ? eventAccountOf(this, view) : null, view ? view.id : null);
    this.#releaseHeads?.();
    const eventAccount = view && this.account ? eventAccountOf(this, view) : null;
    this.#releaseHeads = eventAccount !== null ? this.ctx.heads.watch(eventAccount) : null;
  }

  /** While IDLE: sync and write untagged updates at once (event or poll tick). */
  pushUpdates(): void {
    this.#updates.push();
  }

  /** Waits for an IDLE push in progress to finish. */
  settleUpdates(): Promise<void> {
    return this.#updates.settle();
  }

  // ---- STARTTLS ----------------------------------------------------------------

  async startTls(): Promise<void> {
    const tls = this.ctx.tls;
    if (!tls) throw new Error("TLS not configured");
    // RFC 9051 §6.2.1: nothing pipelined after STARTTLS may be executed.
    const plain = this.#input.detach();
    const secure = await upgradeToTls(plain, tls);
    this.#socket = secure;
    this.#secure = true;
    this.out.replaceSocket(secure);
    this.#input.switchTo(secure);
    secure.on("error", () => {});
  }

  get compressed(): boolean {
    return this.#compressed;
  }

  /**
   * COMPRESS=DEFLATE (RFC 4978), after the tagged OK: from here every byte in
   * and out goes through compress.ts. Nothing pipelined behind the command
   * (the client may only compress after the OK) is kept.
   */
  startCompression(): void {
    const transport = deflateTransport(this.#input.detach());
    this.#compressed = true;
    // The deflate streams hold state a hibernated record cannot keep (hibernate.ts).
    this.hibernatable = false;
    this.out.replaceSocket(transport);
    this.#input.switchTo(transport);
    transport.on("error", () => {});
  }
}

/** Commands that sync (or end the selection) themselves. */
const SELF_SYNCING = new Set<string>(["SELECT", "EXAMINE", "CLOSE", "UNSELECT", "LOGOUT", "IDLE"]);

function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}
