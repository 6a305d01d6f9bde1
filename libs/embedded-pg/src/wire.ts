/**
 * The few pieces of the PostgreSQL frontend/backend protocol (v3) the session
 * server needs: splitting a client's byte stream into messages, renaming the
 * prepared statements and portals a message names, and building the messages
 * it sends itself. https://www.postgresql.org/docs/current/protocol-message-formats.html
 */
import { createHash } from "node:crypto";

/** Request codes of the untyped first messages (protocol §55.2.1, §55.2.9). */
const PROTOCOL_V3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

export type FrontendMessage =
  | { kind: "startup"; bytes: Uint8Array }
  | { kind: "ssl-request" }
  | { kind: "cancel" }
  /** A typed message: its type byte ('Q', 'P', 'B', 'S', 'X', …) and all its bytes, type included. */
  | { kind: "typed"; type: string; bytes: Buffer };

/** The largest message we accept (Postgres' own limit for most messages is 1 GB; ours are small). */
const MAX_MESSAGE = 256 * 1024 * 1024;

/**
 * Cuts one connection's incoming bytes into whole messages. The first message
 * of a connection has no type byte (startup, SSL or cancel request); every
 * later one does.
 */
export class MessageReader {
  private buffer: Buffer = Buffer.alloc(0);
  private started = false;

  push(chunk: Buffer): FrontendMessage[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: FrontendMessage[] = [];
    for (;;) {
      const message = this.next();
      if (!message) break;
      out.push(message);
    }
    return out;
  }

  private next(): FrontendMessage | undefined {
    const b = this.buffer;
    if (!this.started) {
      if (b.length < 8) return undefined;
      const length = b.readInt32BE(0);
      if (length < 8 || length > 10_000) throw new Error(`bad startup packet length ${length}`);
      if (b.length < length) return undefined;
      const code = b.readInt32BE(4);
      const bytes = b.subarray(0, length);
      this.buffer = b.subarray(length);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) return { kind: "ssl-request" };
      if (code === CANCEL_REQUEST) return { kind: "cancel" };
      if (code !== PROTOCOL_V3) throw new Error(`unsupported protocol version ${code}`);
      this.started = true;
      return { kind: "startup", bytes: new Uint8Array(bytes) };
    }
    if (b.length < 5) return undefined;
    const length = b.readInt32BE(1);
    if (length < 4 || length > MAX_MESSAGE) throw new Error(`bad message length ${length}`);
    if (b.length < length + 1) return undefined;
    const bytes = b.subarray(0, length + 1);
    this.buffer = b.subarray(length + 1);
    return { kind: "typed", type: String.fromCharCode(bytes[0]!), bytes };
  }
}

/** Postgres keeps NAMEDATALEN-1 = 63 bytes of a prepared statement's name and silently cuts the rest. */
const MAX_NAME_BYTES = 63;

/**
 * The name a connection's prepared statement or portal gets in the one shared
 * backend: a per-connection prefix keeps two connections' "pop3-login" apart,
 * as two real backends would. Too long a result is replaced by a digest so two
 * names can't collide by truncation. The unnamed statement/portal ("") stays
 * unnamed: it only lives until the next Parse/Bind of the same connection, and
 * the connection holds the backend until its Sync.
 */
export function backendName(prefix: string, name: string): string {
  if (name === "") return name;
  const full = `${prefix}${name}`;
  if (Buffer.byteLength(full) <= MAX_NAME_BYTES) return full;
  return `${prefix}#${createHash("sha256").update(name).digest("base64url").slice(0, 40)}`;
}

function cString(b: Buffer, at: number): { value: string; end: number } {
  const end = b.indexOf(0, at);
  if (end < 0) throw new Error("unterminated string in protocol message");
  return { value: b.toString("utf8", at, end), end: end + 1 };
}

function typed(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, "latin1");
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const z = (s: string) => Buffer.from(`${s}\0`, "utf8");

/** What a message means for the session server, after renaming its statement and portal names. */
export interface Rewritten {
  bytes: Buffer;
  /** Parse: the backend name of the statement it creates (non-empty names only). */
  parsed?: string;
  /** Close of a statement: its backend name. */
  closedStatement?: string;
  /** SQL text of a Query or Parse message, for the advisory-lock check. */
  sql?: string;
}

/**
 * Renames the statement and portal names in Parse, Bind, Describe, Close and
 * Execute (§55.7); every other message passes unchanged.
 */
export function rewriteNames(message: Buffer, prefix: string): Rewritten {
  const type = String.fromCharCode(message[0]!);
  switch (type) {
    case "Q":
      return { bytes: message, sql: cString(message, 5).value };
    case "P": {
      const name = cString(message, 5);
      const query = cString(message, name.end);
      if (name.value === "") return { bytes: message, sql: query.value };
      const renamed = backendName(prefix, name.value);
      return {
        bytes: typed("P", Buffer.concat([z(renamed), message.subarray(name.end)])),
        parsed: renamed,
        sql: query.value,
      };
    }
    case "B": {
      const portal = cString(message, 5);
      const statement = cString(message, portal.end);
      if (portal.value === "" && statement.value === "") return { bytes: message };
      return {
        bytes: typed(
          "B",
          Buffer.concat([
            z(backendName(prefix, portal.value)),
            z(backendName(prefix, statement.value)),
            message.subarray(statement.end),
          ]),
        ),
      };
    }
    case "D":
    case "C": {
      const what = String.fromCharCode(message[5]!);
      const name = cString(message, 6);
      if (name.value === "") return { bytes: message };
      const renamed = backendName(prefix, name.value);
      const bytes = typed(
        type,
        Buffer.concat([message.subarray(5, 6), z(renamed), message.subarray(name.end)]),
      );
      return type === "C" && what === "S" ? { bytes, closedStatement: renamed } : { bytes };
    }
    case "E": {
      const portal = cString(message, 5);
      if (portal.value === "") return { bytes: message };
      return {
        bytes: typed(
          "E",
          Buffer.concat([z(backendName(prefix, portal.value)), message.subarray(portal.end)]),
        ),
      };
    }
    default:
      return { bytes: message };
  }
}

/** A simple-protocol Query message. */
export const queryMessage = (sql: string): Buffer => typed("Q", z(sql));
/** Sync: ends an extended-protocol batch (the backend leaves its error-skipping mode). */
export const syncMessage = (): Buffer => typed("S", Buffer.alloc(0));
/** Close of a prepared statement ('S'). */
export const closeStatementMessage = (name: string): Buffer =>
  typed("C", Buffer.concat([Buffer.from("S"), z(name)]));

/** An ErrorResponse (§55.8) with severity, SQLSTATE and message. */
export function errorResponse(code: string, message: string): Buffer {
  return typed(
    "E",
    Buffer.concat([z("SERROR"), z("VERROR"), z(`C${code}`), z(`M${message}`), Buffer.from([0])]),
  );
}

/** ReadyForQuery with the transaction status ('I' idle, 'T' in a transaction, 'E' failed one). */
export const readyForQuery = (status: "I" | "T" | "E"): Buffer => typed("Z", Buffer.from(status, "latin1"));

/** The transaction status of a reply that ends with ReadyForQuery ('Z', length 5, status), else undefined. */
export function readyStatus(tail: Buffer): string | undefined {
  if (tail.length < 6) return undefined;
  const at = tail.length - 6;
  if (tail[at] !== 0x5a || tail.readInt32BE(at + 1) !== 5) return undefined;
  return String.fromCharCode(tail[at + 5]!);
}

/** Whether a backend reply holds at least one DataRow ('D') message. */
export function hasDataRow(reply: Buffer): boolean {
  let at = 0;
  while (at + 5 <= reply.length) {
    if (reply[at] === 0x44) return true;
    at += 1 + reply.readInt32BE(at + 1);
  }
  return false;
}

/**
 * Session-level advisory lock functions: a connection that called one may hold
 * a lock after its transaction ends, so it keeps the backend (see
 * session-server.ts). The xact variants end with their transaction and need nothing.
 */
const SESSION_ADVISORY = /pg_(try_)?advisory_lock(_shared)?\s*\(/i;
export const mayTakeSessionLock = (sql: string): boolean => SESSION_ADVISORY.test(sql);
