/**
 * The POP3 command parser: one command line (without its CRLF) to a typed
 * command or an error message. Pure and total: it never throws, whatever the
 * input, so the session can answer every line with exactly one response.
 *
 * Rules applied:
 * - Keywords are 3-4 characters, case-insensitive (RFC 1939 §3, RFC 2449 §3).
 * - Arguments are separated by single spaces; each is at most 255 octets
 *   (RFC 2449 §4 raised RFC 1939's 40). We accept runs of spaces.
 * - PASS takes the rest of the line as the password, spaces included
 *   (RFC 1939 §7 allows servers to accept spaces in passwords).
 * - AUTH's initial response is exempt from the 255-octet limit
 *   (RFC 5034 §4); only the session's line limit bounds it.
 * - Message numbers are decimal, 1 or more; TOP's line count may be 0.
 */

export type Command =
  | { name: "USER"; user: string }
  | { name: "PASS"; password: string }
  | { name: "APOP"; user: string; digest: string }
  | { name: "AUTH"; mechanism?: string; initialResponse?: string }
  | { name: "STLS" }
  | { name: "CAPA" }
  | { name: "QUIT" }
  | { name: "STAT" }
  | { name: "NOOP" }
  | { name: "RSET" }
  | { name: "LAST" }
  | { name: "LIST"; msg?: number }
  | { name: "UIDL"; msg?: number }
  | { name: "RETR"; msg: number }
  | { name: "DELE"; msg: number }
  | { name: "TOP"; msg: number; lines: number };

export type CommandName = Command["name"];

export const COMMAND_NAMES: readonly CommandName[] = [
  "USER",
  "PASS",
  "APOP",
  "AUTH",
  "STLS",
  "CAPA",
  "QUIT",
  "STAT",
  "NOOP",
  "RSET",
  "LAST",
  "LIST",
  "UIDL",
  "RETR",
  "DELE",
  "TOP",
];

export type ParseResult =
  | { ok: true; command: Command }
  /** `name` is set when the keyword was known (for metrics and state checks). */
  | { ok: false; name?: CommandName; message: string };

/** RFC 2449 §4. */
export const MAX_ARGUMENT_OCTETS = 255;

const KNOWN = new Set<string>(COMMAND_NAMES);
/** Largest message number or line count we represent exactly. */
const MAX_NUMBER = 2 ** 31 - 1;

function isCommandName(s: string): s is CommandName {
  return KNOWN.has(s);
}

function parseNumber(s: string, min: number): number | undefined {
  if (!/^[0-9]{1,15}$/.test(s)) return undefined;
  const n = Number(s);
  if (n < min) return undefined;
  return Math.min(n, MAX_NUMBER);
}

export function parseCommand(line: string): ParseResult {
  const space = line.indexOf(" ");
  const keyword = (space === -1 ? line : line.slice(0, space)).toUpperCase();
  const rest = space === -1 ? "" : line.slice(space + 1);
  if (!isCommandName(keyword)) {
    return { ok: false, message: keyword ? "unknown command" : "empty command" };
  }
  const name = keyword;
  const fail = (message: string): ParseResult => ({ ok: false, name, message });
  // Control characters never belong in a command (a NUL could cut a name short downstream).
  if (/[\0-\x1f\x7f]/.test(rest)) return fail("control characters in arguments");

  if (name === "PASS") {
    if (!rest) return fail("PASS needs a password");
    if (Buffer.byteLength(rest) > MAX_ARGUMENT_OCTETS) return fail("argument too long");
    return { ok: true, command: { name, password: rest } };
  }
  const args = rest.split(" ").filter((a) => a.length > 0);
  if (name !== "AUTH" && args.some((a) => Buffer.byteLength(a) > MAX_ARGUMENT_OCTETS)) {
    return fail("argument too long");
  }
  const arity = (min: number, max: number) => args.length >= min && args.length <= max;

  switch (name) {
    case "USER":
      return arity(1, 1) ? { ok: true, command: { name, user: args[0]! } } : fail("usage: USER name");
    case "APOP":
      if (!arity(2, 2) || !/^[0-9a-fA-F]{32}$/.test(args[1]!)) return fail("usage: APOP name digest");
      return { ok: true, command: { name, user: args[0]!, digest: args[1]!.toLowerCase() } };
    case "AUTH": {
      if (!arity(0, 2)) return fail("usage: AUTH [mechanism [initial-response]]");
      if (args[0] !== undefined && Buffer.byteLength(args[0]) > MAX_ARGUMENT_OCTETS)
        return fail("argument too long");
      const command: Command = { name };
      if (args[0] !== undefined) command.mechanism = args[0].toUpperCase();
      if (args[1] !== undefined) command.initialResponse = args[1];
      return { ok: true, command };
    }
    case "STLS":
    case "CAPA":
    case "QUIT":
    case "STAT":
    case "NOOP":
    case "RSET":
    case "LAST":
      return arity(0, 0) ? { ok: true, command: { name } } : fail(`${name} takes no arguments`);
    case "LIST":
    case "UIDL": {
      if (!arity(0, 1)) return fail(`usage: ${name} [msg]`);
      if (args[0] === undefined) return { ok: true, command: { name } };
      const msg = parseNumber(args[0], 1);
      return msg === undefined ? fail("invalid message number") : { ok: true, command: { name, msg } };
    }
    case "RETR":
    case "DELE": {
      if (!arity(1, 1)) return fail(`usage: ${name} msg`);
      const msg = parseNumber(args[0]!, 1);
      return msg === undefined ? fail("invalid message number") : { ok: true, command: { name, msg } };
    }
    case "TOP": {
      if (!arity(2, 2)) return fail("usage: TOP msg lines");
      const msg = parseNumber(args[0]!, 1);
      if (msg === undefined) return fail("invalid message number");
      const lines = parseNumber(args[1]!, 0);
      if (lines === undefined) return fail("invalid line count");
      return { ok: true, command: { name, msg, lines } };
    }
  }
}
