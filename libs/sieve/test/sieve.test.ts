/**
 * libs/sieve on its own: errors name their line, limits hold against hostile
 * scripts, the interpreter's semantics the corpus can't show (null sender,
 * runtime failures, caps), and a property test that no input makes the parser
 * do anything but return a tree or throw SieveSyntaxError.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  compileScript,
  loadCompiled,
  parseScript,
  runScript,
  SieveMessage,
  SieveRuntimeError,
  SieveSyntaxError,
} from "../src/index.ts";

const MSG = new SieveMessage(
  Buffer.from("From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hi there\r\n\r\nbody\r\n"),
);
const run = (src: string, from = "bob@example.org", to = "alice+x@example.com") =>
  runScript(compileScript(src), MSG, { from, to }, { maxActions: 8, maxRedirects: 2 });

test("syntax and validation errors carry the line", () => {
  const cases: [string, number, RegExp][] = [
    ['require "fileinto";\n\nfileinto "x"\nkeep;', 3, /fileinto takes no test/],
    ["keep;\ndiscard\n", 3, /expected ; after discard/],
    ["keep;\nkeep;\nfrob;", 3, /unknown command frob/],
    ['keep;\n\n"unterminated', 3, /unterminated string/],
    ['require "fileinto";\nif true {\n  fileinto :copy "x";\n}', 3, /:copy needs require "copy"/],
    ["if true {\nkeep;\n", 3, /missing }/],
    ['if header :is "a" {\nkeep; }', 1, /header takes string list, string list/],
    ['keep;\nrequire "fileinto";', 2, /require must come before/],
  ];
  for (const [src, line, re] of cases) {
    assert.throws(
      () => compileScript(src),
      (err: unknown) => err instanceof SieveSyntaxError && err.line === line && re.test(err.message),
      src,
    );
  }
});

test("hostile scripts: deep nesting, long lists and many commands are refused, not crashed on", () => {
  const deep = `${"if true {".repeat(100)}keep;${"}".repeat(100)}`;
  assert.throws(() => parseScript(deep), /nested too deeply/);
  const deepTests = `if ${"not ".repeat(200)}true { keep; }`;
  assert.throws(() => parseScript(deepTests), /nested too deeply/);
  const manyNots = `if ${"allof(".repeat(100)}true${")".repeat(100)} { keep; }`;
  assert.throws(() => parseScript(manyNots), /nested too deeply/);
  assert.throws(() => parseScript("keep;".repeat(20_000)), /too many commands/);
  const list = `if header :is "x" [${Array(2000).fill('"a"').join(",")}] { keep; }`;
  assert.throws(() => parseScript(list), /list too long/);
});

test("implicit keep, explicit keep, discard, stop", () => {
  assert.deepEqual(run("").actions, []);
  assert.equal(run("").implicitKeep, true);
  assert.equal(run("discard;").implicitKeep, false);
  assert.equal(run("keep;").implicitKeep, false);
  assert.deepEqual(run("keep;").actions, [{ type: "keep", flags: [] }]);
  assert.equal(run('require "fileinto"; stop; fileinto "x";').implicitKeep, true);
});

test("envelope: the null reverse-path is the empty string; subaddress on the original recipient", () => {
  const s =
    'require ["envelope","fileinto","subaddress"];\nif envelope :is "from" "" { fileinto "null"; }\nif envelope :detail "to" "x" { fileinto "detail"; }';
  assert.deepEqual(
    run(s, "").actions.map((a) => (a.type === "fileinto" ? a.mailbox : a.type)),
    ["null", "detail"],
  );
  assert.deepEqual(
    run(s, "bob@example.org", "alice@example.com").actions,
    [],
    "no separator: :detail does not match",
  );
});

test("runtime limits: too many redirects or actions, conflicting reject", () => {
  assert.throws(
    () => run('redirect "a@x.test"; redirect "b@x.test"; redirect "c@x.test";'),
    SieveRuntimeError,
  );
  assert.throws(
    () => run(`require ["fileinto","copy"];\n${'fileinto :copy "a";'.repeat(9)}`),
    (e: unknown) => e instanceof SieveRuntimeError && /too many actions/.test(e.message),
  );
  assert.throws(() => run('require ["reject"]; keep; reject "no";'), /conflicts/);
  assert.throws(() => run('redirect "not an address";'), /invalid address/);
});

test("vacation: defaults and :days bounds", () => {
  const r = run('require "vacation"; vacation :days 0 :handle "h" "away";');
  assert.deepEqual(r.actions[0], {
    type: "vacation",
    reason: "away",
    days: 1,
    subject: undefined,
    from: undefined,
    addresses: [],
    mime: false,
    handle: "h",
  });
  assert.throws(() => run('require "vacation"; vacation "a"; vacation "b";'), /more than one vacation/);
});

test("compiled form round-trips through JSON (what the store keeps)", () => {
  const c = compileScript('require ["fileinto"]; if header :contains "subject" "hi" { fileinto "X"; }');
  const back = loadCompiled(JSON.parse(JSON.stringify(c)));
  assert.ok(back);
  assert.deepEqual(
    runScript(back, MSG, { from: "", to: "a@b.c" }, { maxActions: 8, maxRedirects: 2 }).actions,
    [{ type: "fileinto", mailbox: "X", flags: [], create: false, copy: false }],
  );
  assert.equal(loadCompiled({ version: 0 }), undefined);
});

test("fuzz: the parser returns a tree or throws SieveSyntaxError, for any input", () => {
  const token = fc.constantFrom(
    "if",
    "elsif",
    "else",
    "require",
    "keep",
    "fileinto",
    "header",
    "allof",
    "not",
    ":is",
    ":contains",
    ":matches",
    ":copy",
    '"x"',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${…} is Sieve's variable syntax (RFC 5229)
    '"${1}"',
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    ";",
    ",",
    "10K",
    "text:\n.\n",
    "#c\n",
    "/*c*/",
    "\n",
    " ",
  );
  const soup = fc.array(token, { maxLength: 60 }).map((a) => a.join(" "));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), soup), (src) => {
      try {
        const compiled = compileScript(src);
        // A script that compiles also runs: shape errors are all caught at compile time.
        try {
          runScript(compiled, MSG, { from: "a@b.c", to: "d@e.f" }, { maxActions: 32, maxRedirects: 4 });
        } catch (err) {
          if (!(err instanceof SieveRuntimeError)) throw err;
        }
      } catch (err) {
        if (!(err instanceof SieveSyntaxError)) throw err;
      }
    }),
    { numRuns: 3000 },
  );
});
