/**
 * The checks RFC 5228 §3.2 and each extension's RFC ask of a script before it
 * runs: every command and test known and its extension required (§3.2),
 * argument kinds and counts (§2.6), tags known and not repeated, match types
 * and comparators consistent, if/elsif/else in order (§3.1), require only at
 * the start (§3.2). A script that passes here can still fail at run time only
 * on limits (actions, redirects) — never on shape.
 */
import { type Arg, type CommandNode, parseScript, SieveSyntaxError, type TestNode } from "./parser.ts";

/** Extensions we implement (ManageSieve's SIEVE capability lists these). */
export const SIEVE_EXTENSIONS = [
  "fileinto",
  "reject",
  "ereject",
  "envelope",
  "imap4flags",
  "body",
  "variables",
  "vacation",
  "relational",
  "subaddress",
  "copy",
  "mailbox",
  "date",
  "index",
  "comparator-i;ascii-numeric",
] as const;

/** Bumped when the compiled form changes: stored scripts of an older version are compiled again on load. */
export const COMPILER_VERSION = 1;

export interface CompiledScript {
  version: typeof COMPILER_VERSION;
  require: string[];
  commands: CommandNode[];
}

type ArgKind = "str" | "list" | "num" | "strlist";
interface Spec {
  ext?: string;
  /** Tags and the argument kind each takes ("flag" = none). */
  tags?: Record<string, "flag" | ArgKind>;
  /** Allowed positional shapes. */
  pos: ArgKind[][];
  /** Accepts :is/:contains/:matches/:value/:count and :comparator. */
  match?: boolean;
  /** Accepts an address part (:all, :localpart, :domain, :user, :detail). */
  addressPart?: boolean;
  /** Tag groups of which at most one may appear. */
  exclusive?: string[][];
}

const FLAG_TAG = { flags: "strlist" } as const;

const COMMANDS: Record<string, Spec & { tests?: "none" | "one"; block?: boolean }> = {
  require: { pos: [["strlist"]] },
  stop: { pos: [[]] },
  keep: { pos: [[]], tags: { ...FLAG_TAG } },
  discard: { pos: [[]] },
  fileinto: { ext: "fileinto", pos: [["str"]], tags: { copy: "flag", create: "flag", ...FLAG_TAG } },
  redirect: { pos: [["str"]], tags: { copy: "flag" } },
  reject: { ext: "reject", pos: [["str"]] },
  ereject: { ext: "ereject", pos: [["str"]] },
  setflag: { ext: "imap4flags", pos: [["strlist"], ["str", "strlist"]] },
  addflag: { ext: "imap4flags", pos: [["strlist"], ["str", "strlist"]] },
  removeflag: { ext: "imap4flags", pos: [["strlist"], ["str", "strlist"]] },
  set: {
    ext: "variables",
    pos: [["str", "str"]],
    tags: {
      lower: "flag",
      upper: "flag",
      lowerfirst: "flag",
      upperfirst: "flag",
      quotewildcard: "flag",
      length: "flag",
    },
  },
  vacation: {
    ext: "vacation",
    pos: [["str"]],
    tags: { days: "num", subject: "str", from: "str", addresses: "strlist", mime: "flag", handle: "str" },
  },
};

const TESTS: Record<string, Spec & { tests?: "one" | "list" }> = {
  address: {
    pos: [["strlist", "strlist"]],
    match: true,
    addressPart: true,
    tags: { index: "num", last: "flag" },
  },
  envelope: { ext: "envelope", pos: [["strlist", "strlist"]], match: true, addressPart: true },
  header: { pos: [["strlist", "strlist"]], match: true, tags: { index: "num", last: "flag" } },
  // RFC 5260: date parts of a header's date, or of now.
  date: {
    ext: "date",
    pos: [["str", "str", "strlist"]],
    match: true,
    tags: { zone: "str", originalzone: "flag", index: "num", last: "flag" },
    exclusive: [["zone", "originalzone"]],
  },
  currentdate: { ext: "date", pos: [["str", "strlist"]], match: true, tags: { zone: "str" } },
  exists: { pos: [["strlist"]] },
  size: { pos: [["num"]], tags: { over: "flag", under: "flag" }, exclusive: [["over", "under"]] },
  true: { pos: [[]] },
  false: { pos: [[]] },
  not: { pos: [[]], tests: "one" },
  allof: { pos: [[]], tests: "list" },
  anyof: { pos: [[]], tests: "list" },
  body: {
    ext: "body",
    pos: [["strlist"]],
    match: true,
    tags: { raw: "flag", text: "flag", content: "strlist" },
    exclusive: [["raw", "text", "content"]],
  },
  string: { ext: "variables", pos: [["strlist", "strlist"]], match: true },
  hasflag: { ext: "imap4flags", pos: [["strlist"], ["strlist", "strlist"]], match: true },
};

const MATCH_TAGS = ["is", "contains", "matches", "value", "count"];
const ADDRESS_PARTS = ["all", "localpart", "domain", "user", "detail"];
const RELATIONS = ["gt", "ge", "lt", "le", "eq", "ne"];
const COMPARATORS = ["i;ascii-casemap", "i;octet", "i;ascii-numeric"];

function fits(arg: Arg, kind: ArgKind): boolean {
  if (kind === "strlist") return arg.t === "str" || arg.t === "list";
  return arg.t === kind;
}

function checkArgs(node: CommandNode | TestNode, spec: Spec, required: Set<string>): void {
  const seen = new Set<string>();
  const positional: Arg[] = [];
  const args = node.args;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.t !== "tag") {
      positional.push(a);
      continue;
    }
    if (positional.length > 0)
      throw new SieveSyntaxError(a.line, `:${a.v} must come before ${node.name}'s other arguments`);
    const tag = a.v;
    if (seen.has(tag)) throw new SieveSyntaxError(a.line, `:${tag} given twice`);
    seen.add(tag);
    if (spec.match && MATCH_TAGS.includes(tag)) {
      if (MATCH_TAGS.some((m) => m !== tag && seen.has(m)))
        throw new SieveSyntaxError(a.line, "more than one match type");
      if ((tag === "value" || tag === "count") && !required.has("relational")) {
        throw new SieveSyntaxError(a.line, `:${tag} needs require "relational"`);
      }
      if (tag === "value" || tag === "count") {
        const rel = args[++i];
        if (rel?.t !== "str" || !RELATIONS.includes(rel.v.toLowerCase())) {
          throw new SieveSyntaxError(a.line, `:${tag} needs a relation (gt, ge, lt, le, eq, ne)`);
        }
      }
      continue;
    }
    if (spec.match && tag === "comparator") {
      const c = args[++i];
      if (c?.t !== "str") throw new SieveSyntaxError(a.line, ":comparator needs a string");
      const name = c.v.toLowerCase();
      if (!COMPARATORS.includes(name)) throw new SieveSyntaxError(a.line, `unknown comparator ${c.v}`);
      if (name === "i;ascii-numeric" && !required.has("comparator-i;ascii-numeric")) {
        throw new SieveSyntaxError(
          a.line,
          'comparator i;ascii-numeric needs require "comparator-i;ascii-numeric"',
        );
      }
      continue;
    }
    if (spec.addressPart && ADDRESS_PARTS.includes(tag)) {
      if (ADDRESS_PARTS.some((m) => m !== tag && seen.has(m)))
        throw new SieveSyntaxError(a.line, "more than one address part");
      if ((tag === "user" || tag === "detail") && !required.has("subaddress")) {
        throw new SieveSyntaxError(a.line, `:${tag} needs require "subaddress"`);
      }
      continue;
    }
    const kind = spec.tags?.[tag];
    if (!kind) throw new SieveSyntaxError(a.line, `${node.name} has no :${tag} argument`);
    if (tag === "copy" && !required.has("copy"))
      throw new SieveSyntaxError(a.line, ':copy needs require "copy"');
    if (tag === "create" && !required.has("mailbox"))
      throw new SieveSyntaxError(a.line, ':create needs require "mailbox"');
    if (tag === "flags" && !required.has("imap4flags"))
      throw new SieveSyntaxError(a.line, ':flags needs require "imap4flags"');
    if (kind !== "flag") {
      const v = args[++i];
      if (!v || !fits(v, kind))
        throw new SieveSyntaxError(
          a.line,
          `:${tag} needs a ${kind === "num" ? "number" : "string"} argument`,
        );
    }
  }
  for (const group of spec.exclusive ?? []) {
    if (group.filter((g) => seen.has(g)).length > 1) {
      throw new SieveSyntaxError(node.line, `${group.map((g) => `:${g}`).join(" and ")} exclude each other`);
    }
  }
  if (seen.has("last") && !seen.has("index")) throw new SieveSyntaxError(node.line, ":last needs :index");
  if (node.name === "size" && !seen.has("over") && !seen.has("under")) {
    throw new SieveSyntaxError(node.line, "size needs :over or :under");
  }
  const ok = spec.pos.some(
    (shape) => shape.length === positional.length && shape.every((k, j) => fits(positional[j]!, k)),
  );
  if (!ok) {
    const want = spec.pos
      .map((s) =>
        s.length
          ? s.map((k) => (k === "num" ? "number" : k === "str" ? "string" : "string list")).join(", ")
          : "no arguments",
      )
      .join(" or ");
    throw new SieveSyntaxError(node.line, `${node.name} takes ${want}`);
  }
}

function checkTest(t: TestNode, required: Set<string>): void {
  const spec = TESTS[t.name];
  if (!spec) throw new SieveSyntaxError(t.line, `unknown test ${t.name}`);
  if (spec.ext && !required.has(spec.ext))
    throw new SieveSyntaxError(t.line, `${t.name} needs require "${spec.ext}"`);
  checkArgs(t, spec, required);
  const n = t.tests.length;
  if (spec.tests === "one" && n !== 1) throw new SieveSyntaxError(t.line, `${t.name} takes one test`);
  if (spec.tests === "list" && n < 1) throw new SieveSyntaxError(t.line, `${t.name} takes a list of tests`);
  if (!spec.tests && n > 0) throw new SieveSyntaxError(t.line, `${t.name} takes no test`);
  for (const sub of t.tests) checkTest(sub, required);
}

function checkBlock(cmds: CommandNode[], required: Set<string>, top: boolean): void {
  let prev: string | undefined;
  let pastRequire = false;
  for (const c of cmds) {
    if (c.name === "require") {
      if (!top || pastRequire)
        throw new SieveSyntaxError(c.line, "require must come before any other command");
    } else pastRequire = true;
    if (c.name === "if" || c.name === "elsif" || c.name === "else") {
      if (c.name !== "if" && prev !== "if" && prev !== "elsif") {
        throw new SieveSyntaxError(c.line, `${c.name} without a preceding if`);
      }
      if (c.args.length) throw new SieveSyntaxError(c.line, `${c.name} takes no arguments`);
      if (c.name === "else" ? c.tests.length !== 0 : c.tests.length !== 1) {
        throw new SieveSyntaxError(
          c.line,
          c.name === "else" ? "else takes no test" : `${c.name} takes one test`,
        );
      }
      if (!c.block) throw new SieveSyntaxError(c.line, `${c.name} needs a block`);
      for (const t of c.tests) checkTest(t, required);
      checkBlock(c.block, required, false);
      prev = c.name;
      continue;
    }
    prev = c.name;
    const spec = COMMANDS[c.name];
    if (!spec) throw new SieveSyntaxError(c.line, `unknown command ${c.name}`);
    if (spec.ext && !required.has(spec.ext))
      throw new SieveSyntaxError(c.line, `${c.name} needs require "${spec.ext}"`);
    if (c.block) throw new SieveSyntaxError(c.line, `${c.name} takes no block`);
    if (c.tests.length) throw new SieveSyntaxError(c.line, `${c.name} takes no test`);
    checkArgs(c, spec, required);
  }
}

/** Parses and validates; throws SieveSyntaxError ("line N: …") on any problem. */
export function compileScript(src: string): CompiledScript {
  const commands = parseScript(src);
  const required = new Set<string>();
  for (const c of commands) {
    if (c.name !== "require") break;
    const arg = c.args[0];
    const names = arg?.t === "str" ? [arg.v] : arg?.t === "list" ? arg.v : [];
    for (const name of names) {
      const ext = name.toLowerCase();
      if (!(SIEVE_EXTENSIONS as readonly string[]).includes(ext)) {
        throw new SieveSyntaxError(c.line, `unsupported extension "${name}"`);
      }
      required.add(ext);
    }
  }
  checkBlock(commands, required, true);
  return { version: COMPILER_VERSION, require: [...required], commands };
}

/** A stored compiled form, if it is of the current version and shape; else undefined (compile the source again). */
export function loadCompiled(stored: unknown): CompiledScript | undefined {
  if (typeof stored !== "object" || stored === null) return undefined;
  const s = stored as Partial<CompiledScript>;
  if (s.version !== COMPILER_VERSION || !Array.isArray(s.commands) || !Array.isArray(s.require))
    return undefined;
  return s as CompiledScript;
}
