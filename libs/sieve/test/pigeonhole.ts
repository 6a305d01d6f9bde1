/**
 * Runs a script over a message with Pigeonhole's sieve-test (Debian
 * dovecot-sieve) and with libs/sieve, and reduces both answers to the same
 * comparable form: a sorted set of "store:<folder>:<flags>", "redirect:<addr>",
 * "reject", "vacation", or "error:compile". (sieve-test as root needs a
 * mail_uid to drop to: a tiny config file gives it nobody.)
 */
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  compileScript,
  runScript,
  type SieveAction,
  SieveMessage,
  SieveRuntimeError,
  SieveSyntaxError,
} from "../src/index.ts";

export const SIEVE_TEST = "/usr/bin/sieve-test";

export function pigeonholeAvailable(): string | undefined {
  return existsSync(SIEVE_TEST) ? undefined : "sieve-test is not installed (Debian package dovecot-sieve)";
}

function norm(kind: string, folder: string, flags: string[]): string {
  return `${kind}:${folder}:${flags
    .map((f) => f.toLowerCase())
    .sort()
    .join(" ")}`;
}

export function ours(script: string, raw: string, from: string, to: string): string[] {
  let compiled: ReturnType<typeof compileScript>;
  try {
    compiled = compileScript(script);
  } catch (err) {
    if (err instanceof SieveSyntaxError) return ["error:compile"];
    throw err;
  }
  const out = new Set<string>();
  try {
    const r = runScript(
      compiled,
      new SieveMessage(Buffer.from(raw, "utf8")),
      { from, to },
      { maxActions: 32, maxRedirects: 4 },
    );
    for (const a of r.actions as SieveAction[]) {
      if (a.type === "keep") out.add(norm("store", "INBOX", a.flags));
      else if (a.type === "fileinto") out.add(norm("store", a.mailbox, a.flags));
      else if (a.type === "redirect") out.add(`redirect:${a.address.toLowerCase()}`);
      else if (a.type === "reject") out.add("reject");
      else if (a.type === "vacation") out.add("vacation");
    }
    if (r.implicitKeep) out.add(norm("store", "INBOX", r.implicitKeepFlags));
  } catch (err) {
    if (!(err instanceof SieveRuntimeError)) throw err;
    return ["error:runtime", norm("store", "INBOX", [])];
  }
  return [...out].sort();
}

export function parsePigeonhole(stdout: string, exitCode: number): string[] {
  if (!stdout.includes("Performed actions:")) return exitCode === 0 ? [] : ["error:compile"];
  const out = new Set<string>();
  let current: { folder: string; flags: string[] } | undefined;
  const flush = () => {
    if (current) out.add(norm("store", current.folder, current.flags));
    current = undefined;
  };
  for (const line of stdout.split("\n")) {
    let m = /^\s*\* store message in folder: (.*)$/.exec(line);
    if (m) {
      flush();
      current = { folder: m[1]!, flags: [] };
      continue;
    }
    m = /^\s*\+ (?:add|set) IMAP flags: (.*)$/.exec(line);
    if (m && current) {
      current.flags.push(...m[1]!.split(/\s+/).filter(Boolean));
      continue;
    }
    if (/^\s*\+ /.test(line) || /^\s+=>/.test(line)) continue;
    if (/^\s*\* /.test(line)) flush();
    m = /^\s*\* redirect message to: <(.*)>$/.exec(line);
    if (m) out.add(`redirect:${m[1]!.toLowerCase()}`);
    if (/^\s*\* reject message/.test(line)) out.add("reject");
    if (/^\s*\* send vacation message/.test(line)) out.add("vacation");
  }
  flush();
  if (exitCode !== 0) out.add("error:runtime");
  return [...out].sort();
}

export class Pigeonhole {
  readonly dir: string;
  #n = 0;
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "aerogram-sieve-test-"));
    chmodSync(this.dir, 0o777);
    mkdirSync(join(this.dir, "home"), { mode: 0o777 });
    chmodSync(join(this.dir, "home"), 0o777);
    writeFileSync(
      join(this.dir, "dovecot.conf"),
      `mail_uid = nobody\nmail_gid = nogroup\nmail_home = ${this.dir}/home\nmail_location = maildir:${this.dir}/home/Maildir\n`,
    );
  }

  run(script: string, raw: string, from: string, to: string): Promise<{ actions: string[]; stdout: string }> {
    const n = this.#n++;
    const s = join(this.dir, `s${n}.sieve`);
    const m = join(this.dir, `m${n}.eml`);
    writeFileSync(s, script, { mode: 0o644 });
    writeFileSync(m, raw, { mode: 0o644 });
    const args = ["-c", join(this.dir, "dovecot.conf"), "-r", to, "-a", to, s, m];
    if (from) args.unshift("-f", from);
    else args.unshift("-f", "<>");
    return new Promise((resolve) => {
      execFile(SIEVE_TEST, args, { timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ actions: parsePigeonhole(stdout, code), stdout: `${stdout}\n${stderr}` });
      });
    });
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
