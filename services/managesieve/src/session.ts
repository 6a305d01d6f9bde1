/**
 * One ManageSieve connection (RFC 5804): capability greeting, STARTTLS (§2.2),
 * AUTHENTICATE PLAIN through libs/auth (§2.1; only over TLS or from
 * loopback), then the script commands (§2.3-§2.13). Scripts are compiled by
 * libs/sieve at PUTSCRIPT/CHECKSCRIPT time and stored with their compiled
 * form; a script that doesn't compile is refused with its line (§2.6).
 * Commands run one at a time in order; the reader bounds lines and literals.
 */
import type { Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { Authenticator } from "@aerogram/auth";
import { decodeSaslPlain } from "@aerogram/auth";
import { upgradeToTls } from "@aerogram/net";
import type { Counter, Logger } from "@aerogram/observability";
import { COMPILER_VERSION, compileScript, SIEVE_EXTENSIONS, SieveSyntaxError } from "@aerogram/sieve";
import type { Account, Store } from "@aerogram/store";
import { CommandReader, sieveString, type Token } from "./reader.ts";

export interface SessionOptions {
  hostname: string;
  tls: SecureContext | undefined;
  maxScriptBytes: number;
  maxScripts: number;
  maxRedirects: number;
  idleMs: number;
  /** Allow AUTHENTICATE without TLS from any address (dev only); loopback never needs TLS. */
  allowInsecureAuth: boolean;
}

export interface SessionDeps {
  store: Store;
  authenticator: Authenticator;
  log: Logger;
  commands: Counter<"command" | "result">;
  options: SessionOptions;
  onClose(session: ManageSieveSession): void;
}

type Reply = { status: "OK" | "NO" | "BYE"; code?: string; text?: string };

function isLoopback(ip: string): boolean {
  return ip === "127.0.0.1" || ip === "::1" || ip.startsWith("127.") || ip === "::ffff:127.0.0.1";
}

/** RFC 5804 §1.6: script names are UTF-8 without controls, 1-512 characters. */
function validName(name: string): boolean {
  return name.length >= 1 && name.length <= 512 && !/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(name);
}

export class ManageSieveSession {
  #socket: Socket;
  #reader: CommandReader;
  #account: Account | undefined;
  #secure: boolean;
  #busy = false;
  #closed = false;
  #draining = false;
  #idle: NodeJS.Timeout | undefined;
  /** AUTHENTICATE waiting for the client's response to our empty challenge. */
  #pendingAuth: ((token: Token | undefined) => void) | undefined;

  constructor(
    private readonly deps: SessionDeps,
    socket: Socket,
    private readonly remoteAddress: string,
    secure: boolean,
  ) {
    this.#socket = socket;
    this.#secure = secure;
    const o = deps.options;
    this.#reader = new CommandReader(8192, o.maxScriptBytes + 1024);
  }

  start(): void {
    this.#attach(this.#socket);
    this.#write(this.#capabilities());
    this.#write(this.#format({ status: "OK", text: "Aerogram ManageSieve ready" }));
    this.#touch();
  }

  beginDrain(): void {
    this.#draining = true;
    if (!this.#busy) this.#bye("Server shutting down");
  }

  #attach(socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.#reader.push(d);
      this.#touch();
      void this.#pump();
    });
    socket.on("close", () => this.#close());
    socket.on("error", () => {});
  }

  #touch() {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.#bye("Idle timeout"), this.deps.options.idleMs);
    this.#idle.unref();
  }

  #close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idle);
    this.deps.onClose(this);
  }

  #bye(text: string) {
    if (this.#closed) return;
    this.#write(this.#format({ status: "BYE", text }));
    this.#socket.end();
    this.#close();
  }

  #write(s: string) {
    if (!this.#closed && !this.#socket.destroyed) this.#socket.write(s);
  }

  #format(r: Reply): string {
    return `${r.status}${r.code ? ` (${r.code})` : ""}${r.text !== undefined ? ` ${sieveString(r.text)}` : ""}\r\n`;
  }

  #capabilities(): string {
    const o = this.deps.options;
    const canAuth = this.#secure || isLoopback(this.remoteAddress) || o.allowInsecureAuth;
    const lines = [
      `"IMPLEMENTATION" "Aerogram"`,
      // RFC 5804 §1.7: SASL is always listed; empty until TLS where auth needs it.
      `"SASL" "${this.#account ? "" : canAuth ? "PLAIN" : ""}"`,
      `"SIEVE" "${SIEVE_EXTENSIONS.join(" ")}"`,
      ...(o.tls && !this.#secure ? [`"STARTTLS"`] : []),
      `"MAXREDIRECTS" "${o.maxRedirects}"`,
      ...(this.#account ? [`"OWNER" ${sieveString(this.#account.address)}`] : []),
      `"VERSION" "1.0"`,
    ];
    return `${lines.join("\r\n")}\r\n`;
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (!this.#closed) {
        const r = this.#reader.next();
        if (r.kind === "incomplete") break;
        if (r.kind === "error") {
          this.deps.commands.inc({ command: "bad", result: "no" });
          if (r.fatal) {
            this.#bye(r.message);
            return;
          }
          if (this.#pendingAuth) {
            const p = this.#pendingAuth;
            this.#pendingAuth = undefined;
            p(undefined);
            return;
          }
          this.#write(this.#format({ status: "NO", text: r.message }));
          continue;
        }
        if (this.#pendingAuth) {
          // This is the nested pump AUTHENTICATE started: hand over the answer and let that command go on.
          const p = this.#pendingAuth;
          this.#pendingAuth = undefined;
          p(r.tokens[0]);
          return;
        }
        const stop = await this.#run(r.tokens);
        if (stop) return;
        if (this.#draining) {
          this.#bye("Server shutting down");
          return;
        }
      }
    } catch (err) {
      this.deps.log.warn({ err }, "managesieve command failed");
      this.#bye("Internal error");
    } finally {
      this.#busy = false;
    }
  }

  /** Runs one command; true when the session is over or handed to TLS. */
  async #run(tokens: Token[]): Promise<boolean> {
    const head = tokens[0]!;
    const name = head.kind === "atom" ? head.value.toUpperCase() : "";
    const args = tokens.slice(1);
    const str = (i: number): string | undefined => {
      const t = args[i];
      return t?.kind === "string" ? t.value.toString("utf8") : undefined;
    };
    const reply = (r: Reply, command = name) => {
      this.deps.commands.inc({ command: command.toLowerCase() || "unknown", result: r.status.toLowerCase() });
      this.#write(this.#format(r));
    };
    const authed = this.#account;
    switch (name) {
      case "CAPABILITY":
        this.#write(this.#capabilities());
        reply({ status: "OK" });
        return false;
      case "NOOP": {
        const tag = str(0);
        reply({
          status: "OK",
          ...(tag !== undefined ? { code: `TAG ${sieveString(tag)}` } : {}),
          text: "Done",
        });
        return false;
      }
      case "LOGOUT":
        reply({ status: "OK", text: "Bye" });
        this.#socket.end();
        this.#close();
        return true;
      case "STARTTLS": {
        const tls = this.deps.options.tls;
        if (!tls || this.#secure) {
          reply({ status: "NO", text: "TLS not available" });
          return false;
        }
        reply({ status: "OK", text: "Begin TLS negotiation" });
        this.#reader.reset();
        const plain = this.#socket;
        plain.removeAllListeners("data");
        plain.removeAllListeners("close");
        try {
          const upgraded = await upgradeToTls(plain, tls);
          this.#socket = upgraded;
          this.#secure = true;
          this.#attach(upgraded);
          // §2.2: after TLS the server sends the capabilities again.
          this.#write(this.#capabilities());
          this.#write(this.#format({ status: "OK", text: "TLS active" }));
        } catch (err) {
          this.deps.log.info({ err }, "managesieve STARTTLS handshake failed");
          this.#close();
        }
        return true;
      }
      case "AUTHENTICATE":
        if (authed) {
          reply({ status: "NO", text: "Already authenticated" });
          return false;
        }
        return this.#authenticate(str(0), args[1], reply);
    }
    if (!authed) {
      reply({ status: "NO", text: name ? `${name} needs authentication first` : "Unknown command" });
      return false;
    }
    const store = this.deps.store;
    const o = this.deps.options;
    switch (name) {
      case "LISTSCRIPTS": {
        const list = await store.sieve.list(authed.id);
        for (const s of list) this.#write(`${sieveString(s.name)}${s.active ? " ACTIVE" : ""}\r\n`);
        reply({ status: "OK" });
        return false;
      }
      case "GETSCRIPT": {
        const n = str(0);
        const row = n !== undefined ? await store.sieve.get(authed.id, n) : undefined;
        if (!row) {
          reply({ status: "NO", code: "NONEXISTENT", text: "No such script" });
          return false;
        }
        this.#write(`{${Buffer.byteLength(row.source)}}\r\n${row.source}\r\n`);
        reply({ status: "OK" });
        return false;
      }
      case "CHECKSCRIPT":
      case "PUTSCRIPT": {
        const put = name === "PUTSCRIPT";
        const scriptName = put ? str(0) : undefined;
        const body = args[put ? 1 : 0];
        if ((put && (scriptName === undefined || !validName(scriptName))) || body?.kind !== "string") {
          reply({
            status: "NO",
            text: put ? "PUTSCRIPT needs a valid name and a script" : "CHECKSCRIPT needs a script",
          });
          return false;
        }
        if (body.value.length > o.maxScriptBytes) {
          reply({
            status: "NO",
            code: "QUOTA/MAXSIZE",
            text: `Scripts are limited to ${o.maxScriptBytes} octets`,
          });
          return false;
        }
        const source = body.value.toString("utf8");
        let compiled: ReturnType<typeof compileScript>;
        try {
          compiled = compileScript(source);
        } catch (err) {
          if (!(err instanceof SieveSyntaxError)) throw err;
          reply({ status: "NO", text: err.message });
          return false;
        }
        if (!put) {
          reply({ status: "OK" });
          return false;
        }
        const existing = await store.sieve.get(authed.id, scriptName!);
        if (!existing && (await store.sieve.count(authed.id)).scripts >= o.maxScripts) {
          reply({ status: "NO", code: "QUOTA/MAXSCRIPTS", text: `At most ${o.maxScripts} scripts` });
          return false;
        }
        await store.sieve.put(authed.id, scriptName!, source, compiled, COMPILER_VERSION);
        reply({ status: "OK" });
        return false;
      }
      case "HAVESPACE": {
        const n = str(0);
        const size = args[1]?.kind === "atom" ? Number(args[1].value) : Number.NaN;
        if (n === undefined || !Number.isInteger(size)) {
          reply({ status: "NO", text: "HAVESPACE needs a name and a size" });
          return false;
        }
        if (size > o.maxScriptBytes) {
          reply({
            status: "NO",
            code: "QUOTA/MAXSIZE",
            text: `Scripts are limited to ${o.maxScriptBytes} octets`,
          });
          return false;
        }
        const exists = await store.sieve.get(authed.id, n);
        if (!exists && (await store.sieve.count(authed.id)).scripts >= o.maxScripts) {
          reply({ status: "NO", code: "QUOTA/MAXSCRIPTS", text: `At most ${o.maxScripts} scripts` });
          return false;
        }
        reply({ status: "OK" });
        return false;
      }
      case "SETACTIVE": {
        const n = str(0);
        if (n === undefined || !(await store.sieve.setActive(authed.id, n))) {
          reply({ status: "NO", code: "NONEXISTENT", text: "No such script" });
          return false;
        }
        reply({ status: "OK" });
        return false;
      }
      case "DELETESCRIPT": {
        const n = str(0);
        const r = n === undefined ? "missing" : await store.sieve.delete(authed.id, n);
        if (r === "missing") reply({ status: "NO", code: "NONEXISTENT", text: "No such script" });
        else if (r === "active")
          reply({ status: "NO", code: "ACTIVE", text: "The active script can't be deleted" });
        else reply({ status: "OK" });
        return false;
      }
      case "RENAMESCRIPT": {
        const from = str(0);
        const to = str(1);
        if (from === undefined || to === undefined || !validName(to)) {
          reply({ status: "NO", text: "RENAMESCRIPT needs two valid names" });
          return false;
        }
        const r = await store.sieve.rename(authed.id, from, to);
        if (r === "missing") reply({ status: "NO", code: "NONEXISTENT", text: "No such script" });
        else if (r === "exists")
          reply({ status: "NO", code: "ALREADYEXISTS", text: "A script with that name exists" });
        else reply({ status: "OK" });
        return false;
      }
      case "UNAUTHENTICATE":
        this.#account = undefined;
        reply({ status: "OK" });
        return false;
      default:
        reply({ status: "NO", text: "Unknown command" }, "unknown");
        return false;
    }
  }

  async #authenticate(
    mechanism: string | undefined,
    initial: Token | undefined,
    reply: (r: Reply, command?: string) => void,
  ): Promise<boolean> {
    const o = this.deps.options;
    if (!(this.#secure || isLoopback(this.remoteAddress) || o.allowInsecureAuth)) {
      reply({ status: "NO", code: "ENCRYPT-NEEDED", text: "Use STARTTLS first" });
      return false;
    }
    if (mechanism?.toUpperCase() !== "PLAIN") {
      reply({ status: "NO", text: "Only SASL PLAIN is offered" });
      return false;
    }
    let response: Token | undefined = initial;
    if (!response) {
      this.#write('""\r\n');
      response = await new Promise<Token | undefined>((resolve) => {
        this.#pendingAuth = resolve;
        // The client's answer arrives through #pump, which this command holds: let it read.
        this.#busy = false;
        void this.#pump();
      });
      this.#busy = true;
    }
    if (!response) {
      reply({ status: "NO", text: "Bad SASL response" });
      return false;
    }
    const text = response.kind === "string" ? response.value.toString("latin1") : response.value;
    if (text === "*") {
      reply({ status: "NO", text: "Authentication cancelled" });
      return false;
    }
    const creds = decodeSaslPlain(text.trim());
    if (!creds || (creds.authzid && creds.authzid.toLowerCase() !== creds.username.toLowerCase())) {
      reply({ status: "NO", text: "Bad PLAIN credentials" });
      return false;
    }
    const result = await this.deps.authenticator.login({
      username: creds.username,
      password: creds.password,
      remoteAddress: this.remoteAddress,
      protocol: "managesieve",
    });
    if (!result.ok) {
      reply({
        status: "NO",
        ...(result.reason === "unavailable" ? { code: "TRYLATER" } : {}),
        text: result.reason === "throttled" ? "Too many failures, try again later" : "Authentication failed",
      });
      return false;
    }
    this.#account = result.account;
    reply({ status: "OK", text: "Logged in" });
    return false;
  }
}
