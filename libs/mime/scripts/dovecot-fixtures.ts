// Records a reference IMAP server's answers for every corpus message into
// libs/mime/test/fixtures/dovecot/<name>.json, for dovecot-compat.test.ts.
//
// Needs Dovecot's imap binary (Debian: apt-get install dovecot-imapd); it is
// not part of the repository. Each message gets a fresh Maildir and a
// pre-authenticated `imap` process talking over stdin/stdout, so no daemon,
// port or password is involved:
//
//   node --import tsx libs/mime/scripts/dovecot-fixtures.ts [--imap /usr/lib/dovecot/imap] [name-prefix...]
//
// With name prefixes (e.g. `59 60`) only those corpus messages are recorded.
//
// Recorded: FETCH 1 (ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE) as raw IMAP
// text, and BODY.PEEK[section] for the sections listed in the fixture (the
// top-level ones plus, per part, N, N.MIME and for encapsulated messages
// N.HEADER / N.TEXT, taken from our own part tree so every part is covered).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOVECOT_IMAP, dovecotPreauth } from "@aerogram/testkit";
import { indexMessageSync } from "../src/index.ts";
import type { PartNode } from "../src/types.ts";

const here = import.meta.dirname;
const corpusDir = join(here, "../test/fixtures/corpus");
const outDir = join(here, "../test/fixtures/dovecot");
const argImap = process.argv.indexOf("--imap");
const imapBin = argImap > 0 ? process.argv[argImap + 1]! : DOVECOT_IMAP;
const only = process.argv.slice(2).filter((a, i, all) => a !== "--imap" && all[i - 1] !== "--imap");
const work = "/tmp/aerogram-dovecot-fixtures";

export interface DovecotFixture {
  message: string;
  server: string;
  rfc822Size: number;
  /** Raw IMAP values (byte strings, i.e. latin1), including literals. */
  envelope: string;
  bodystructure: string;
  body: string;
  /** BODY[section] answers (byte strings); null for NIL. */
  sections: Record<string, string | null>;
}

function sectionsFor(parts: PartNode): string[] {
  const out = new Set<string>([
    "HEADER",
    "TEXT",
    "1",
    "1.MIME",
    "HEADER.FIELDS (From Subject Date)",
    "HEADER.FIELDS.NOT (From Subject Received)",
    "TEXT<2.10>",
    "9",
    "1.HEADER",
  ]);
  const walk = (n: PartNode, isMessage: boolean) => {
    if (n.section !== "" && !isMessage) {
      out.add(n.section);
      out.add(`${n.section}.MIME`);
    }
    if (isMessage && n.section !== "") {
      out.add(`${n.section}.HEADER`);
      out.add(`${n.section}.TEXT`);
      out.add(`${n.section}.HEADER.FIELDS (Subject)`);
    }
    for (const c of n.children ?? []) walk(c, false);
    if (n.message !== undefined) walk(n.message, true);
  };
  walk(parts, false);
  return [...out];
}

/** Minimal IMAP response reader: returns the raw span of one value. */
class Reader {
  pos = 0;
  constructor(readonly b: Buffer) {}
  value(): { raw: string; str: string | null } {
    const b = this.b;
    const start = this.pos;
    const c = b[this.pos];
    if (c === 0x22) {
      let s = "";
      this.pos++;
      while (b[this.pos] !== 0x22) {
        if (b[this.pos] === 0x5c) this.pos++;
        s += String.fromCharCode(b[this.pos]!);
        this.pos++;
      }
      this.pos++;
      return { raw: b.subarray(start, this.pos).toString("latin1"), str: s };
    }
    if (c === 0x7b) {
      const close = b.indexOf("}", this.pos);
      const n = Number(
        b
          .subarray(this.pos + 1, close)
          .toString()
          .replace("+", ""),
      );
      const dataStart = close + 3;
      this.pos = dataStart + n;
      return {
        raw: b.subarray(start, this.pos).toString("latin1"),
        str: b.subarray(dataStart, this.pos).toString("latin1"),
      };
    }
    if (c === 0x28) {
      this.pos++;
      while (b[this.pos] !== 0x29) {
        if (b[this.pos] === 0x20) this.pos++;
        else this.value();
      }
      this.pos++;
      return { raw: b.subarray(start, this.pos).toString("latin1"), str: null };
    }
    while (this.pos < b.length && b[this.pos] !== 0x20 && b[this.pos] !== 0x29 && b[this.pos] !== 0x0d)
      this.pos++;
    const atom = b.subarray(start, this.pos).toString("latin1");
    return { raw: atom, str: atom === "NIL" ? null : atom };
  }
  /** Parses "* 1 FETCH (NAME value ...)" at pos; returns name -> value. */
  fetch(): Map<string, { raw: string; str: string | null }> {
    const items = new Map<string, { raw: string; str: string | null }>();
    const b = this.b;
    this.pos = b.indexOf("FETCH (", this.pos) + 7;
    while (b[this.pos] !== 0x29) {
      if (b[this.pos] === 0x20) {
        this.pos++;
        continue;
      }
      // item name, may contain [..] with spaces and <..>
      const start = this.pos;
      let depth = 0;
      while (depth > 0 || b[this.pos] !== 0x20) {
        if (b[this.pos] === 0x5b) depth++;
        if (b[this.pos] === 0x5d) depth--;
        this.pos++;
      }
      const name = b.subarray(start, this.pos).toString("latin1");
      this.pos++;
      items.set(name, this.value());
    }
    this.pos++;
    return items;
  }
}

function run(file: string): DovecotFixture {
  const msg = readFileSync(join(corpusDir, file));
  const ix = indexMessageSync(msg);
  const sections = sectionsFor(ix.parts);
  // a fresh Maildir per message
  const dovecot = dovecotPreauth(work, imapBin);
  if (dovecot === null) throw new Error(`${imapBin} is missing (Debian: apt-get install dovecot-imapd)`);
  // APPEND in one session, FETCH in a second one (APPEND completes asynchronously)
  dovecot.session(
    Buffer.concat([Buffer.from(`a APPEND INBOX {${msg.length}+}\r\n`), msg, Buffer.from("\r\nz LOGOUT\r\n")]),
  );
  const cmds: Buffer[] = [
    Buffer.from("s SELECT INBOX\r\nf FETCH 1 (ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE)\r\n"),
  ];
  sections.forEach((s, i) => {
    const partial = s.includes("<") ? s.slice(s.indexOf("<")) : "";
    cmds.push(Buffer.from(`x${i} FETCH 1 (BODY.PEEK[${s.replace(/<.*$/, "")}]${partial})\r\n`));
  });
  cmds.push(Buffer.from("z LOGOUT\r\n"));
  const out = dovecot.session(Buffer.concat(cmds));
  const rd = new Reader(out);
  const fIdx = out.indexOf("* 1 FETCH (");
  if (fIdx < 0) throw new Error(`${file}: no FETCH response:\n${out.toString()}`);
  rd.pos = fIdx;
  const main = rd.fetch();
  const fixture: DovecotFixture = {
    message: file,
    server: "Dovecot 2.3.19.1 (Debian 12)",
    rfc822Size: Number(main.get("RFC822.SIZE")!.raw),
    envelope: main.get("ENVELOPE")!.raw,
    bodystructure: main.get("BODYSTRUCTURE")!.raw,
    body: main.get("BODY")!.raw,
    sections: {},
  };
  for (const s of sections) {
    const next = out.indexOf("* 1 FETCH (BODY[", rd.pos);
    if (next < 0) throw new Error(`${file}: missing answer for ${s}`);
    rd.pos = next;
    const items = rd.fetch();
    const [, v] = [...items.entries()][0]!;
    fixture.sections[s] = v.str;
  }
  return fixture;
}

rmSync(work, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const files = readdirSync(corpusDir)
  .filter((f) => f.endsWith(".eml") && (only.length === 0 || only.some((p) => f.startsWith(p))))
  .sort();
for (const f of files) {
  const fx = run(f);
  writeFileSync(join(outDir, f.replace(/\.eml$/, ".json")), `${JSON.stringify(fx, null, 1)}\n`);
}
console.log(`recorded ${files.length} fixtures in ${outDir}`);
