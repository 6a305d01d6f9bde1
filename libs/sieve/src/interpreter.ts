/**
 * Runs a compiled script over one message for one recipient and returns what
 * to do (RFC 5228 §2.10): the actions in order and whether the implicit keep
 * still applies. Nothing here does I/O; the caller stores, sends and
 * remembers (libs/delivery sieve-filter.ts). Sieve has no loops, so a run
 * costs at most the script's size; the number of actions is capped anyway.
 * A SieveRuntimeError means "the script failed": the caller falls back to the
 * implicit keep (§2.10.6).
 */
import { datePart, localOffsetMinutes, parseRfc5322Date, parseZone, type ZonedDate } from "./date.ts";
import type { SieveAddress, SieveMessage } from "./message.ts";
import type { Arg, CommandNode, TestNode } from "./parser.ts";
import type { CompiledScript } from "./validate.ts";

export interface SieveEnvelope {
  /** MAIL FROM; "" for the null reverse-path. */
  from: string;
  /** The original envelope recipient (RCPT TO as given, e.g. with +detail). */
  to: string;
}

export interface VacationAction {
  type: "vacation";
  reason: string;
  days: number;
  subject: string | undefined;
  from: string | undefined;
  addresses: string[];
  mime: boolean;
  handle: string;
}

export type SieveAction =
  | { type: "keep"; flags: string[] }
  | { type: "fileinto"; mailbox: string; flags: string[]; create: boolean; copy: boolean }
  | { type: "redirect"; address: string; copy: boolean }
  | { type: "discard" }
  | { type: "reject"; reason: string; ereject: boolean }
  | VacationAction;

export interface SieveResult {
  actions: SieveAction[];
  /** The implicit keep was not cancelled (§2.10.2). */
  implicitKeep: boolean;
  /** Flags for the implicit keep (imap4flags' internal variable at the end). */
  implicitKeepFlags: string[];
}

export interface RunOptions {
  /** "Now" for currentdate (tests); default Date.now(). */
  now?: number;
  maxActions: number;
  /** Redirects in one run (RFC 5228 §4.2: implementations SHOULD limit them). */
  maxRedirects: number;
  /** The user's own addresses (vacation :addresses default). */
  userAddresses?: string[];
}

export class SieveRuntimeError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = "SieveRuntimeError";
  }
}

class Stop {}

type Relation = "gt" | "ge" | "lt" | "le" | "eq" | "ne";
interface MatchSpec {
  type: "is" | "contains" | "matches" | "value" | "count";
  relation: Relation | undefined;
  comparator: string;
}

/** Splits a command's arguments into tags (with their values) and positionals. */
function split(args: Arg[]): {
  tags: Map<string, Arg | true>;
  pos: Arg[];
  match: MatchSpec;
  addressPart: string;
} {
  const tags = new Map<string, Arg | true>();
  const pos: Arg[] = [];
  const match: MatchSpec = { type: "is", relation: undefined, comparator: "i;ascii-casemap" };
  let addressPart = "all";
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.t !== "tag") {
      pos.push(a);
      continue;
    }
    switch (a.v) {
      case "is":
      case "contains":
      case "matches":
        match.type = a.v;
        break;
      case "value":
      case "count":
        match.type = a.v;
        match.relation = (args[++i] as { v: string }).v.toLowerCase() as Relation;
        break;
      case "comparator":
        match.comparator = (args[++i] as { v: string }).v.toLowerCase();
        break;
      case "all":
      case "localpart":
      case "domain":
      case "user":
      case "detail":
        addressPart = a.v;
        break;
      case "copy":
      case "create":
      case "mime":
      case "over":
      case "under":
      case "raw":
      case "text":
      case "lower":
      case "upper":
      case "lowerfirst":
      case "upperfirst":
      case "quotewildcard":
      case "length":
      case "last":
      case "originalzone":
        tags.set(a.v, true);
        break;
      default:
        tags.set(a.v, args[++i]!);
    }
  }
  return { tags, pos, match, addressPart };
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** i;ascii-numeric (RFC 4790 §9.1): the leading digits' value; no digits = positive infinity. */
function numeric(s: string): number {
  const m = /^[0-9]+/.exec(s);
  return m ? Number(m[0]) : Number.POSITIVE_INFINITY;
}

function compareRel(a: number | string, b: number | string, rel: Relation): boolean {
  const c = a < b ? -1 : a > b ? 1 : 0;
  switch (rel) {
    case "gt":
      return c > 0;
    case "ge":
      return c >= 0;
    case "lt":
      return c < 0;
    case "le":
      return c <= 0;
    case "eq":
      return c === 0;
    default:
      return c !== 0;
  }
}

/** :matches glob (RFC 5228 §2.7.1: * any sequence, ? one character, \ escapes) with captures for ${1}…. */
function globMatch(value: string, pattern: string, caseless: boolean): string[] | undefined {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else if (c === "*") re += "([\\s\\S]*?)";
    else if (c === "?") re += "([\\s\\S])";
    else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  re += "$";
  const m = new RegExp(re, caseless ? "i" : "").exec(value);
  return m ? [m[0]!, ...m.slice(1).map((x) => x ?? "")] : undefined;
}

export class Interpreter {
  private readonly actions: SieveAction[] = [];
  private implicitKeep = true;
  private flags: string[] = [];
  private readonly vars = new Map<string, string>();
  private matchVars: string[] = [];
  private redirects = 0;
  private readonly variables: boolean;

  constructor(
    private readonly script: CompiledScript,
    private readonly message: SieveMessage,
    private readonly envelope: SieveEnvelope,
    private readonly opts: RunOptions,
  ) {
    this.variables = script.require.includes("variables");
  }

  run(): SieveResult {
    try {
      this.block(this.script.commands);
    } catch (err) {
      if (!(err instanceof Stop)) throw err;
    }
    return { actions: this.actions, implicitKeep: this.implicitKeep, implicitKeepFlags: [...this.flags] };
  }

  /** RFC 5229 §3: ${name} and ${N} expand; unknown names expand to "". */
  private str(s: string): string {
    if (!this.variables || !s.includes("${")) return s;
    return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_.]*|[0-9]+)\}/g, (_, name: string) => {
      if (/^[0-9]+$/.test(name)) return this.matchVars[Number(name)] ?? "";
      if (name.includes(".")) return "";
      return this.vars.get(name.toLowerCase()) ?? "";
    });
  }

  private list(a: Arg | true | undefined): string[] {
    if (!a || a === true) return [];
    if (a.t === "str") return [this.str(a.v)];
    if (a.t === "list") return a.v.map((s) => this.str(s));
    return [String(a.v)];
  }

  private block(cmds: CommandNode[]): void {
    let skipElse = false;
    for (const c of cmds) {
      if (c.name === "if") {
        skipElse = this.test(c.tests[0]!);
        if (skipElse) this.block(c.block!);
        continue;
      }
      if (c.name === "elsif") {
        if (skipElse) continue;
        skipElse = this.test(c.tests[0]!);
        if (skipElse) this.block(c.block!);
        continue;
      }
      if (c.name === "else") {
        if (!skipElse) this.block(c.block!);
        skipElse = false;
        continue;
      }
      this.command(c);
    }
  }

  private add(a: SieveAction, line: number): void {
    if (this.actions.length >= this.opts.maxActions) throw new SieveRuntimeError(line, "too many actions");
    this.actions.push(a);
  }

  private flagList(values: string[]): string[] {
    // RFC 5232 §3: each string is a space-separated list of flags; duplicates collapse (flags are case-insensitive).
    const out: string[] = [];
    for (const v of values) {
      for (const f of v.split(/\s+/)) {
        if (f && !out.some((x) => x.toLowerCase() === f.toLowerCase())) out.push(f);
      }
    }
    return out;
  }

  private command(c: CommandNode): void {
    const { tags, pos } = split(c.args);
    switch (c.name) {
      case "require":
        return;
      case "stop":
        throw new Stop();
      case "keep": {
        const flags = tags.has("flags") ? this.flagList(this.list(tags.get("flags"))) : [...this.flags];
        this.checkReject(c.line, "keep");
        this.add({ type: "keep", flags }, c.line);
        this.implicitKeep = false;
        return;
      }
      case "discard":
        this.add({ type: "discard" }, c.line);
        this.implicitKeep = false;
        return;
      case "fileinto": {
        const mailbox = this.str((pos[0] as { v: string }).v);
        const flags = tags.has("flags") ? this.flagList(this.list(tags.get("flags"))) : [...this.flags];
        const copy = tags.has("copy");
        this.checkReject(c.line, "fileinto");
        this.add({ type: "fileinto", mailbox, flags, create: tags.has("create"), copy }, c.line);
        if (!copy) this.implicitKeep = false;
        return;
      }
      case "redirect": {
        const address = this.str((pos[0] as { v: string }).v).trim();
        if (!/^[^\s@<>]+@[^\s@<>]+$/.test(address))
          throw new SieveRuntimeError(c.line, `redirect to an invalid address ${JSON.stringify(address)}`);
        if (++this.redirects > this.opts.maxRedirects)
          throw new SieveRuntimeError(c.line, "too many redirects");
        this.checkReject(c.line, "redirect");
        const copy = tags.has("copy");
        // The same address twice is one redirect (RFC 5228 §2.10.3).
        if (
          !this.actions.some(
            (a) => a.type === "redirect" && a.address.toLowerCase() === address.toLowerCase(),
          )
        ) {
          this.add({ type: "redirect", address, copy }, c.line);
        }
        if (!copy) this.implicitKeep = false;
        return;
      }
      case "reject":
      case "ereject": {
        if (
          this.actions.some(
            (a) =>
              a.type === "keep" ||
              a.type === "fileinto" ||
              a.type === "redirect" ||
              a.type === "vacation" ||
              a.type === "reject",
          )
        ) {
          throw new SieveRuntimeError(c.line, `${c.name} conflicts with an earlier action`);
        }
        this.add(
          { type: "reject", reason: this.str((pos[0] as { v: string }).v), ereject: c.name === "ereject" },
          c.line,
        );
        this.implicitKeep = false;
        return;
      }
      case "setflag":
      case "addflag":
      case "removeflag": {
        // The variable-name form (RFC 5232 §3 with variables) is taken as the internal variable.
        const values = this.flagList(this.list(pos[pos.length - 1]));
        if (c.name === "setflag") this.flags = values;
        else if (c.name === "addflag") this.flags = this.flagList([...this.flags, ...values]);
        else this.flags = this.flags.filter((f) => !values.some((v) => v.toLowerCase() === f.toLowerCase()));
        return;
      }
      case "set": {
        const name = (pos[0] as { v: string }).v.toLowerCase();
        if (!/^[a-z_][a-z0-9_]*$/.test(name))
          throw new SieveRuntimeError(c.line, `bad variable name ${name}`);
        let v = this.str((pos[1] as { v: string }).v);
        // RFC 5229 §4.1 modifier precedence: lower/upper, then first-letter, then quotewildcard, then length.
        if (tags.has("lower")) v = v.toLowerCase();
        if (tags.has("upper")) v = v.toUpperCase();
        if (tags.has("lowerfirst")) v = v.charAt(0).toLowerCase() + v.slice(1);
        if (tags.has("upperfirst")) v = v.charAt(0).toUpperCase() + v.slice(1);
        if (tags.has("quotewildcard")) v = v.replace(/[*?\\]/g, "\\$&");
        if (tags.has("length")) v = String([...v].length);
        this.vars.set(name, v.slice(0, 64 * 1024));
        return;
      }
      case "vacation": {
        if (this.actions.some((a) => a.type === "vacation"))
          throw new SieveRuntimeError(c.line, "more than one vacation action");
        if (this.actions.some((a) => a.type === "reject"))
          throw new SieveRuntimeError(c.line, "vacation conflicts with reject");
        const daysArg = tags.get("days");
        let days = daysArg && daysArg !== true && daysArg.t === "num" ? daysArg.v : 7;
        // RFC 5230 §4.1: days below the site minimum are raised to it; we allow 1 to 365.
        days = Math.min(365, Math.max(1, days));
        const reason = this.str((pos[0] as { v: string }).v);
        const subject = tags.get("subject");
        const from = tags.get("from");
        const handle = tags.get("handle");
        this.add(
          {
            type: "vacation",
            reason,
            days,
            subject: subject && subject !== true ? this.str((subject as { v: string }).v) : undefined,
            from: from && from !== true ? this.str((from as { v: string }).v) : undefined,
            addresses: this.list(tags.get("addresses")),
            mime: tags.has("mime"),
            // §4.2: without :handle, the reason and the other arguments identify the response.
            handle:
              handle && handle !== true
                ? this.str((handle as { v: string }).v)
                : `auto:${reason}:${subject && subject !== true ? (subject as { v: string }).v : ""}`,
          },
          c.line,
        );
        return;
      }
      default:
        throw new SieveRuntimeError(c.line, `unknown command ${c.name}`);
    }
  }

  private checkReject(line: number, what: string) {
    if (this.actions.some((a) => a.type === "reject"))
      throw new SieveRuntimeError(line, `${what} conflicts with reject`);
  }

  private test(t: TestNode): boolean {
    switch (t.name) {
      case "true":
        return true;
      case "false":
        return false;
      case "not":
        return !this.test(t.tests[0]!);
      case "allof":
        return t.tests.every((x) => this.test(x));
      case "anyof":
        return t.tests.some((x) => this.test(x));
    }
    const { tags, pos, match, addressPart } = split(t.args);
    switch (t.name) {
      case "exists":
        return this.list(pos[0]).every((h) => this.message.exists(h));
      case "size": {
        const limit = (pos[0] as { v: number }).v;
        return tags.has("over") ? this.message.size > limit : this.message.size < limit;
      }
      case "header": {
        const pick = this.picker(tags);
        const values = this.list(pos[0]).flatMap((h) => this.message.header(h, pick));
        return this.match(values, this.list(pos[1]), match);
      }
      case "address": {
        const pick = this.picker(tags);
        const values = this.list(pos[0]).flatMap((h) => this.message.addresses(h, pick));
        return this.match(this.parts(values, addressPart), this.list(pos[1]), match);
      }
      case "date":
      case "currentdate": {
        const isDate = t.name === "date";
        const part = this.str((pos[isDate ? 1 : 0] as { v: string }).v);
        const keys = this.list(pos[isDate ? 2 : 1]);
        let d: ZonedDate | undefined;
        if (isDate) {
          const name = this.str((pos[0] as { v: string }).v);
          // RFC 5260 §4.1: without :index the first occurrence; Received: the date after the last ";".
          const tagsForPick = tags.has("index")
            ? tags
            : new Map<string, Arg | true>([["index", { t: "num", v: 1, line: t.line }]]);
          let value = this.message.header(name, this.picker(tagsForPick))[0];
          if (value !== undefined && name.toLowerCase() === "received")
            value = value.slice(value.lastIndexOf(";") + 1);
          d = value === undefined ? undefined : parseRfc5322Date(value);
        } else {
          const now = this.opts.now ?? Date.now();
          d = { utcMs: now, offsetMinutes: localOffsetMinutes(now) };
        }
        if (!d) return false;
        const zoneArg = tags.get("zone");
        if (zoneArg && zoneArg !== true) {
          const z = parseZone(this.str((zoneArg as { v: string }).v));
          if (z === undefined) return false;
          d = { utcMs: d.utcMs, offsetMinutes: z };
        } else if (isDate && !tags.has("originalzone"))
          d = { utcMs: d.utcMs, offsetMinutes: localOffsetMinutes(d.utcMs) };
        const value = datePart(d, part);
        // An unknown date part only makes the test false (Pigeonhole warns and goes on).
        if (value === undefined) return false;
        return this.match([value], keys, match);
      }
      case "envelope": {
        const values: SieveAddress[] = [];
        for (const part of this.list(pos[0])) {
          const p = part.toLowerCase();
          const a = p === "from" ? this.envelope.from : p === "to" ? this.envelope.to : undefined;
          if (a === undefined) continue;
          const at = a.lastIndexOf("@");
          values.push({
            all: a,
            local: at >= 0 ? a.slice(0, at) : a,
            domain: at >= 0 ? a.slice(at + 1) : "",
          });
        }
        return this.match(this.parts(values, addressPart), this.list(pos[1]), match);
      }
      case "body": {
        let values: string[];
        if (tags.has("raw")) values = [this.message.rawBody()];
        else if (tags.has("content")) {
          const types = this.list(tags.get("content")).map((s) => s.toLowerCase());
          values = this.message
            .parts()
            .filter((p) =>
              types.some(
                (ty) =>
                  ty === "" || (ty.includes("/") ? p.contentType === ty : p.contentType.startsWith(`${ty}/`)),
              ),
            )
            .map((p) => p.text);
        } else
          values = this.message
            .parts()
            .filter((p) => p.contentType.startsWith("text/"))
            .map((p) => p.text);
        // RFC 5173 §5: body matching ignores the match variables.
        return this.match(values, this.list(pos[0]), match, false);
      }
      case "string":
        return this.match(this.list(pos[0]), this.list(pos[1]), match);
      case "hasflag": {
        const keys = this.list(pos[pos.length - 1]);
        return this.match(this.flags, keys, match);
      }
      default:
        throw new SieveRuntimeError(t.line, `unknown test ${t.name}`);
    }
  }

  /** RFC 5260 §6: :index N (1-based) picks one occurrence, counted from the end with :last. */
  private picker(tags: Map<string, Arg | true>): <T>(fields: T[]) => T[] {
    const index = tags.get("index");
    if (!index || index === true) return (f) => f;
    const n = (index as { v: number }).v;
    const last = tags.has("last");
    return (fields) => {
      const i = last ? fields.length - n : n - 1;
      return n >= 1 && i >= 0 && i < fields.length ? [fields[i]!] : [];
    };
  }

  /** Address parts (RFC 5228 §2.7.4; RFC 5233 :user/:detail with "+" as the separator). */
  private parts(addresses: SieveAddress[], part: string): string[] {
    const out: string[] = [];
    for (const a of addresses) {
      if (part === "all") {
        out.push(a.all);
        continue;
      }
      // An unparseable address has no parts: only :all can match it.
      if (a.local === undefined || a.domain === undefined) continue;
      const plus = a.local.indexOf("+");
      if (part === "localpart") out.push(a.local);
      else if (part === "domain") out.push(a.domain);
      else if (part === "user") out.push(plus >= 0 ? a.local.slice(0, plus) : a.local);
      // §4: no separator = no detail: the test fails for this address (not "").
      else if (part === "detail" && plus >= 0) out.push(a.local.slice(plus + 1));
    }
    return out;
  }

  private match(values: string[], keys: string[], m: MatchSpec, capture = true): boolean {
    if (m.type === "count") {
      const n = values.length;
      return keys.some((k) =>
        m.comparator === "i;ascii-numeric"
          ? compareRel(n, numeric(k), m.relation!)
          : compareRel(String(n), k, m.relation!),
      );
    }
    const caseless = m.comparator === "i;ascii-casemap";
    for (const v of values) {
      for (const k of keys) {
        switch (m.type) {
          case "is":
            if (
              m.comparator === "i;ascii-numeric"
                ? numeric(v) === numeric(k)
                : caseless
                  ? asciiLower(v) === asciiLower(k)
                  : v === k
            )
              return true;
            break;
          case "contains":
            if (caseless ? asciiLower(v).includes(asciiLower(k)) : v.includes(k)) return true;
            break;
          case "matches": {
            const caps = globMatch(v, k, caseless);
            if (caps) {
              if (capture && this.variables) this.matchVars = caps;
              return true;
            }
            break;
          }
          case "value": {
            const ok =
              m.comparator === "i;ascii-numeric"
                ? compareRel(numeric(v), numeric(k), m.relation!)
                : compareRel(caseless ? asciiLower(v) : v, caseless ? asciiLower(k) : k, m.relation!);
            if (ok) return true;
            break;
          }
        }
      }
    }
    return false;
  }
}

/** Runs a compiled script. Throws SieveRuntimeError when the script fails. */
export function runScript(
  script: CompiledScript,
  message: SieveMessage,
  envelope: SieveEnvelope,
  opts: RunOptions,
): SieveResult {
  return new Interpreter(script, message, envelope, opts).run();
}
