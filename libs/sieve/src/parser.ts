/**
 * Sieve's grammar (RFC 5228 §8): tokens (§8.1) and the command/test tree
 * (§8.2). Every error names its line. Input is bounded: the caller caps the
 * script size; here nesting depth (blocks and tests), string-list length and
 * the number of commands are capped, so a hostile script costs bounded time
 * and memory and never overflows the stack.
 */

export type Arg =
  | { t: "str"; v: string; line: number }
  | { t: "list"; v: string[]; line: number }
  | { t: "num"; v: number; line: number }
  | { t: "tag"; v: string; line: number };

export interface TestNode {
  name: string;
  args: Arg[];
  tests: TestNode[];
  line: number;
}

export interface CommandNode {
  name: string;
  args: Arg[];
  tests: TestNode[];
  block: CommandNode[] | undefined;
  line: number;
}

export class SieveSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = "SieveSyntaxError";
  }
}

export const PARSE_LIMITS = {
  /** Blocks inside blocks plus tests inside tests. */
  maxDepth: 32,
  maxListItems: 1024,
  maxNodes: 10_000,
  maxStringBytes: 64 * 1024,
};

type Token =
  | { k: "id"; v: string; line: number }
  | { k: "tag"; v: string; line: number }
  | { k: "num"; v: number; line: number }
  | { k: "str"; v: string; line: number }
  | { k: "punct"; v: "[" | "]" | "(" | ")" | "{" | "}" | ";" | ","; line: number }
  | { k: "eof"; line: number };

const QUANTIFIER: Record<string, number> = { K: 1024, M: 1024 * 1024, G: 1024 * 1024 * 1024 };

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "#") {
      while (i < n && src[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const start = line;
      const end = src.indexOf("*/", i + 2);
      if (end < 0) throw new SieveSyntaxError(start, "unterminated /* comment");
      for (let j = i; j < end; j++) if (src[j] === "\n") line++;
      i = end + 2;
      continue;
    }
    if ("[](){};,".includes(c)) {
      out.push({ k: "punct", v: c as "[", line });
      i++;
      continue;
    }
    if (c === '"') {
      const start = line;
      let s = "";
      i++;
      for (;;) {
        if (i >= n) throw new SieveSyntaxError(start, "unterminated string");
        const ch = src[i]!;
        if (ch === '"') {
          i++;
          break;
        }
        if (ch === "\\" && i + 1 < n) {
          // §2.4.2: only \" and \\ are defined; any other escaped character stands for itself.
          s += src[i + 1];
          if (src[i + 1] === "\n") line++;
          i += 2;
          continue;
        }
        if (ch === "\n") line++;
        s += ch;
        i++;
        if (s.length > PARSE_LIMITS.maxStringBytes) throw new SieveSyntaxError(start, "string too long");
      }
      out.push({ k: "str", v: s.replace(/\r?\n/g, "\r\n"), line: start });
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i;
      while (j < n && /[0-9]/.test(src[j]!)) j++;
      let v = Number(src.slice(i, j));
      const q = src[j]?.toUpperCase();
      if (q && QUANTIFIER[q]) {
        v *= QUANTIFIER[q];
        j++;
      }
      if (!Number.isSafeInteger(v)) throw new SieveSyntaxError(line, "number too large");
      out.push({ k: "num", v, line });
      i = j;
      continue;
    }
    if (c === ":" || /[A-Za-z_]/.test(c)) {
      const tag = c === ":";
      let j = tag ? i + 1 : i;
      if (tag && !/[A-Za-z_]/.test(src[j] ?? ""))
        throw new SieveSyntaxError(line, "expected a tag name after ':'");
      while (j < n && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      const word = src.slice(tag ? i + 1 : i, j);
      // §8.1 multi-line: "text:" *(SP / HTAB) (hash-comment / CRLF) lines... "." CRLF
      if (!tag && word.toLowerCase() === "text" && src[j] === ":") {
        const start = line;
        let k = j + 1;
        while (k < n && (src[k] === " " || src[k] === "\t")) k++;
        if (src[k] === "#") while (k < n && src[k] !== "\n") k++;
        else if (src[k] === "\r") k++;
        if (src[k] !== "\n") throw new SieveSyntaxError(line, "expected end of line after text:");
        k++;
        line++;
        const lines: string[] = [];
        for (;;) {
          if (k >= n) throw new SieveSyntaxError(start, "unterminated text: block");
          let e = src.indexOf("\n", k);
          if (e < 0) e = n;
          let l = src.slice(k, e);
          if (l.endsWith("\r")) l = l.slice(0, -1);
          k = e + 1;
          line++;
          if (l === ".") break;
          // Dot-stuffing: a line starting with ".." stands for one starting with ".".
          lines.push(l.startsWith("..") ? l.slice(1) : l);
          if (lines.length > 100_000) throw new SieveSyntaxError(start, "text: block too long");
        }
        const v = lines.length ? `${lines.join("\r\n")}\r\n` : "";
        if (v.length > PARSE_LIMITS.maxStringBytes) throw new SieveSyntaxError(start, "string too long");
        out.push({ k: "str", v, line: start });
        i = k;
        continue;
      }
      out.push(tag ? { k: "tag", v: word.toLowerCase(), line } : { k: "id", v: word.toLowerCase(), line });
      i = j;
      continue;
    }
    throw new SieveSyntaxError(line, `unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ k: "eof", line });
  return out;
}

class Parser {
  private pos = 0;
  private nodes = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token {
    return this.toks[this.pos]!;
  }
  private next(): Token {
    return this.toks[this.pos++]!;
  }
  private isPunct(v: string): boolean {
    const t = this.peek();
    return t.k === "punct" && t.v === v;
  }
  private expect(v: string, what: string): void {
    const t = this.next();
    if (t.k !== "punct" || t.v !== v)
      throw new SieveSyntaxError(t.line, `expected ${what}, found ${describe(t)}`);
  }
  private count(line: number) {
    if (++this.nodes > PARSE_LIMITS.maxNodes)
      throw new SieveSyntaxError(line, "script has too many commands");
  }

  commands(depth: number, inBlock: boolean): CommandNode[] {
    const list: CommandNode[] = [];
    for (;;) {
      const t = this.peek();
      if (t.k === "eof") {
        if (inBlock) throw new SieveSyntaxError(t.line, "missing } at end of script");
        return list;
      }
      if (t.k === "punct" && t.v === "}") {
        if (!inBlock) throw new SieveSyntaxError(t.line, "unexpected }");
        return list;
      }
      list.push(this.command(depth));
    }
  }

  private command(depth: number): CommandNode {
    const t = this.next();
    if (t.k !== "id") throw new SieveSyntaxError(t.line, `expected a command, found ${describe(t)}`);
    this.count(t.line);
    const args = this.args();
    const tests = this.testsAfterArgs(depth);
    let block: CommandNode[] | undefined;
    if (this.isPunct("{")) {
      if (depth + 1 > PARSE_LIMITS.maxDepth) throw new SieveSyntaxError(t.line, "blocks nested too deeply");
      this.next();
      block = this.commands(depth + 1, true);
      this.expect("}", "}");
    } else {
      const end = this.peek();
      if (!(end.k === "punct" && end.v === ";")) {
        throw new SieveSyntaxError(end.line, `expected ; after ${t.v}, found ${describe(end)}`);
      }
      this.next();
    }
    return { name: t.v, args, tests, block, line: t.line };
  }

  private args(): Arg[] {
    const args: Arg[] = [];
    for (;;) {
      const t = this.peek();
      if (t.k === "str") args.push({ t: "str", v: this.next().k === "str" ? t.v : "", line: t.line });
      else if (t.k === "num") {
        this.next();
        args.push({ t: "num", v: t.v, line: t.line });
      } else if (t.k === "tag") {
        this.next();
        args.push({ t: "tag", v: t.v, line: t.line });
      } else if (t.k === "punct" && t.v === "[") {
        this.next();
        const items: string[] = [];
        for (;;) {
          const s = this.next();
          if (s.k !== "str")
            throw new SieveSyntaxError(s.line, `expected a string in the list, found ${describe(s)}`);
          items.push(s.v);
          if (items.length > PARSE_LIMITS.maxListItems)
            throw new SieveSyntaxError(s.line, "string list too long");
          if (this.isPunct(",")) {
            this.next();
            continue;
          }
          this.expect("]", "] or ,");
          break;
        }
        args.push({ t: "list", v: items, line: t.line });
      } else return args;
    }
  }

  private testsAfterArgs(depth: number): TestNode[] {
    const t = this.peek();
    if (t.k === "id") return [this.test(depth + 1)];
    if (t.k === "punct" && t.v === "(") return this.testList(depth + 1);
    return [];
  }

  private testList(depth: number): TestNode[] {
    this.next();
    const tests: TestNode[] = [];
    for (;;) {
      tests.push(this.test(depth));
      if (this.isPunct(",")) {
        this.next();
        continue;
      }
      const t = this.next();
      if (t.k !== "punct" || t.v !== ")")
        throw new SieveSyntaxError(t.line, `expected , or ) in test list, found ${describe(t)}`);
      return tests;
    }
  }

  private test(depth: number): TestNode {
    const t = this.next();
    if (t.k !== "id") throw new SieveSyntaxError(t.line, `expected a test, found ${describe(t)}`);
    if (depth > PARSE_LIMITS.maxDepth) throw new SieveSyntaxError(t.line, "tests nested too deeply");
    this.count(t.line);
    const args = this.args();
    const tests = this.testsAfterArgs(depth);
    return { name: t.v, args, tests, line: t.line };
  }
}

function describe(t: Token): string {
  switch (t.k) {
    case "eof":
      return "end of script";
    case "str":
      return "a string";
    case "num":
      return `number ${t.v}`;
    case "tag":
      return `:${t.v}`;
    case "id":
      return t.v;
    default:
      return `"${t.v}"`;
  }
}

/** Parses a script into its command tree; throws SieveSyntaxError with a line number. */
export function parseScript(src: string): CommandNode[] {
  const toks = tokenize(src);
  return new Parser(toks).commands(0, false);
}
