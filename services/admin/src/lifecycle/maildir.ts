/**
 * Maildir (and Maildir++ folders, as Dovecot lays them out): one file per
 * message in cur/, the IMAP system flags in the name's ":2," info (D draft,
 * F flagged, R answered, S seen, T trashed = \Deleted), keywords as letters
 * a–z mapped by the folder's dovecot-keywords file, INTERNALDATE as the
 * file's mtime. The root is INBOX; "Sub/Folder" is ".Sub.Folder". Files are
 * the stored bytes (CRLF), so an export re-imports to the same blob.
 */
import { mkdir, open, readdir, readFile, rename, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";

const FLAG_LETTERS: [string, string][] = [
  ["\\Draft", "D"],
  ["\\Flagged", "F"],
  ["\\Answered", "R"],
  ["\\Seen", "S"],
  ["\\Deleted", "T"],
];

export function folderDir(root: string, mailbox: string): string {
  if (mailbox === "INBOX") return root;
  return join(
    root,
    `.${mailbox
      .replace(/^INBOX\//, "")
      .split("/")
      .join(".")}`,
  );
}

export async function readKeywords(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for (const line of (await readFile(join(dir, "dovecot-keywords"), "utf8")).split("\n")) {
      const m = /^(\d+) (\S+)$/.exec(line.trim());
      if (m && Number(m[1]) < 26) out[Number(m[1])] = m[2]!;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return out;
}

/** The ":2," info of a message's flags; keywords get letters from (and are added to) `keywords`. */
export function maildirInfo(flags: readonly string[], keywords: string[]): string {
  let letters = "";
  for (const [flag, letter] of FLAG_LETTERS) if (flags.includes(flag)) letters += letter;
  for (const f of flags) {
    if (f.startsWith("\\")) continue;
    let i = keywords.indexOf(f);
    if (i < 0 && keywords.length < 26) i = keywords.push(f) - 1;
    if (i >= 0) letters += String.fromCharCode(97 + i);
  }
  return `:2,${[...letters].sort().join("")}`;
}

export function flagsOfName(name: string, keywords: readonly string[]): string[] {
  const info = /:2,([A-Za-z]*)$/.exec(name)?.[1] ?? "";
  const flags: string[] = [];
  for (const [flag, letter] of FLAG_LETTERS) if (info.includes(letter)) flags.push(flag);
  for (const c of info) {
    if (c >= "a" && c <= "z") {
      const k = keywords[c.charCodeAt(0) - 97];
      if (k) flags.push(k);
    }
  }
  return flags;
}

export class MaildirWriter {
  #keywords: string[] = [];
  #done = new Set<number>();
  private constructor(readonly dir: string) {}

  /** Opens (creating) a folder; remembers which UIDs an earlier run already wrote (resume). */
  static async open(dir: string): Promise<MaildirWriter> {
    for (const sub of ["cur", "new", "tmp"]) await mkdir(join(dir, sub), { recursive: true });
    const w = new MaildirWriter(dir);
    w.#keywords = await readKeywords(dir);
    for (const name of await readdir(join(dir, "cur"))) {
      const m = /\.U(\d+)\.aerogram/.exec(name);
      if (m) w.#done.add(Number(m[1]));
    }
    return w;
  }

  has(uid: number): boolean {
    return this.#done.has(uid);
  }

  /** Writes through tmp/ and a rename, so a crash never leaves half a message in cur/. */
  async write(uid: number, content: Buffer, flags: readonly string[], internalDate: Date): Promise<void> {
    const base = `${Math.floor(internalDate.getTime() / 1000)}.U${uid}.aerogram,S=${content.length}`;
    const tmp = join(this.dir, "tmp", base);
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await utimes(tmp, internalDate, internalDate);
    await rename(tmp, join(this.dir, "cur", `${base}${maildirInfo(flags, this.#keywords)}`));
    this.#done.add(uid);
  }

  async close(): Promise<void> {
    if (this.#keywords.length > 0)
      await writeFile(
        join(this.dir, "dovecot-keywords"),
        this.#keywords.map((k, i) => `${i} ${k}\n`).join(""),
      );
  }
}

export interface MaildirFolder {
  /** Our mailbox name ("INBOX", "Sub/Folder"). */
  mailbox: string;
  dir: string;
}

/** The folders of a Maildir++ tree: the root (INBOX) and every ".Name" directory that is a maildir. */
export async function maildirFolders(root: string): Promise<MaildirFolder[]> {
  const out: MaildirFolder[] = [];
  const isMaildir = async (dir: string) =>
    (await stat(join(dir, "cur")).catch(() => undefined))?.isDirectory() ||
    (await stat(join(dir, "new")).catch(() => undefined))?.isDirectory();
  if (await isMaildir(root)) out.push({ mailbox: "INBOX", dir: root });
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.isDirectory() || !e.name.startsWith(".") || e.name === "." || e.name === "..") continue;
    const dir = join(root, e.name);
    if (await isMaildir(dir)) out.push({ mailbox: e.name.slice(1).split(".").join("/"), dir });
  }
  return out;
}

export type MaildirItem =
  | { ok: true; file: string; message: Buffer; flags: string[]; internalDate: Date }
  | { ok: false; file: string; reason: string };

/** A header field line (RFC 5322 §2.2: printable US-ASCII but ":" in the name) or a "From " / "Return-Path" start. */
const LOOKS_LIKE_MESSAGE = /^(?:[!-9;-~]+:|From )/;

/** The messages of one maildir folder (new/ and cur/), in name order; garbage is reported, not imported. */
export async function* readMaildir(dir: string, maxBytes: number): AsyncGenerator<MaildirItem> {
  const keywords = await readKeywords(dir);
  for (const sub of ["new", "cur"]) {
    let names: string[];
    try {
      names = (await readdir(join(dir, sub))).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    for (const name of names) {
      const file = join(dir, sub, name);
      if (name.startsWith(".")) continue;
      const st = await stat(file);
      if (!st.isFile()) {
        yield { ok: false, file, reason: "not a regular file" };
        continue;
      }
      if (st.size === 0) {
        yield { ok: false, file, reason: "empty" };
        continue;
      }
      if (st.size > maxBytes) {
        yield { ok: false, file, reason: `larger than ${maxBytes} octets` };
        continue;
      }
      const message = await readFile(file);
      if (!LOOKS_LIKE_MESSAGE.test(message.subarray(0, 1000).toString("latin1")) || message.includes(0)) {
        yield { ok: false, file, reason: "not a message (no header fields, or NUL bytes)" };
        continue;
      }
      yield { ok: true, file, message, flags: flagsOfName(name, keywords), internalDate: st.mtime };
    }
  }
}
