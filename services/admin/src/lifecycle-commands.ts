/**
 * mailctl's storage-lifecycle commands (issue 22), kept out of the shared
 * command table: they need the blob store and the metadata store directly
 * (a runtime), so they run in mailctl's direct mode, in the Helm CronJob, or
 * through the admin API's jobs (admin-jobs.ts). mailctl.ts sends a command
 * here when isLifecycleCommand says so.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { normalizeImportedHash } from "@aerogram/auth";
import { auditBlobs, BlobReclaimer } from "@aerogram/delivery";
import type { Runtime } from "@aerogram/runtime";
import { AccountExistsError } from "@aerogram/store";
import { migrateImap } from "./lifecycle/migrate.ts";
import { parsePasswdFile } from "./lifecycle/passwd-file.ts";
import { exportMail, importMail, type Progress } from "./lifecycle/transfer.ts";
import type { MailctlResult } from "./mailctl-commands.ts";

export const LIFECYCLE_USAGE = `storage lifecycle (direct mode: needs DATABASE_URL and the blob store, or the embedded setup):
  add <address> --password-hash '{SCHEME}…' [--quota <bytes>]
                                                      create an account with a hash from another server
                                                      ({SHA512-CRYPT} {SHA256-CRYPT} {BLF-CRYPT} {ARGON2ID} {SSHA512} {PLAIN} …)
  import-accounts <passwd-file> [--domain <d>]        create the accounts of a Dovecot passwd-file
  export <address> --format mbox|maildir [--mailbox M] <path>
                                                      resumable; mbox: one mailbox (default INBOX)
  import <address> <path> [--mailbox M]               an mbox file or a maildir tree; skips what is already there
  migrate <address> --from imap[s]://host[:port] --user U --password-file F [--tls-insecure]
                                                      copy every folder from another IMAP server (incremental)
  gc [--dry-run] [--restart] [--reclaim]              audit: list the bucket, queue unreferenced blobs for the
                                                      reclaimer (--reclaim: and reclaim what is due now)
  retention [list] [<address> | --domain <d>]         retention rules
  retention set <address> | --domain <d> <mailbox> <days>
  retention delete <address> | --domain <d> <mailbox>`;

const COMMANDS = new Set(["import-accounts", "export", "import", "migrate", "gc", "retention"]);

/** Whether mailctl should run this command line here (with a runtime). */
export function isLifecycleCommand(argv: readonly string[]): boolean {
  const command = argv.find((a) => !a.startsWith("-"));
  if (command === "add") return argv.some((a) => a === "--password-hash" || a.startsWith("--password-hash="));
  return command !== undefined && COMMANDS.has(command);
}

const OPTIONS = {
  "password-hash": { type: "string" },
  quota: { type: "string" },
  domain: { type: "string" },
  format: { type: "string" },
  mailbox: { type: "string" },
  from: { type: "string" },
  user: { type: "string" },
  "password-file": { type: "string" },
  "tls-insecure": { type: "boolean" },
  "dry-run": { type: "boolean" },
  restart: { type: "boolean" },
  reclaim: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
} as const;

class UsageError extends Error {}

/** A one-line progress display on stderr when it is a terminal. */
function progressLine(quiet: boolean | undefined): (p: Progress) => void {
  if (quiet || !process.stderr.isTTY) return () => {};
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 200) return;
    last = now;
    const bar =
      p.total && p.total > 0
        ? `[${"#".repeat(Math.round((20 * Math.min(p.done, p.total)) / p.total)).padEnd(20, ".")}] ${p.done}/${p.total}`
        : `${p.done}`;
    process.stderr.write(`\r${p.mailbox} ${bar}   `);
  };
}

function rate(n: number, seconds: number): string {
  return seconds > 0 ? `${(n / seconds).toFixed(1)} msgs/s` : "";
}

function skippedLines(skipped: { where: string; reason: string }[]): string[] {
  return skipped.map((s) => `  skipped ${s.where}: ${s.reason}`);
}

export async function runLifecycleCommand(rt: Runtime, argv: string[]): Promise<MailctlResult> {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>
  >;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    return { output: `mailctl: ${(err as Error).message}\n${LIFECYCLE_USAGE}`, code: 2 };
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  const need = (i: number, what: string): string => {
    const v = args[i];
    if (!v) throw new UsageError(`${command} needs ${what}`);
    return v;
  };
  const maxBytes = rt.config.protocolLimits.smtp.maxMessageBytes;
  const deps = { store: rt.store, blobs: rt.blobs, events: rt.events };
  try {
    switch (command) {
      case "add": {
        const address = need(0, "an address");
        const hash = normalizeImportedHash(values["password-hash"] ?? "");
        const quotaBytes = values.quota === undefined ? null : Number(values.quota);
        if (quotaBytes !== null && !Number.isSafeInteger(quotaBytes))
          throw new UsageError("a quota is a byte count");
        const a = await rt.store.accounts.create({
          address,
          password: randomBytes(24).toString("base64"),
          quotaBytes,
        });
        await rt.store.passwordHashes.set(a.id, hash);
        return {
          output: `created ${a.address} with a ${/^\{([^}]+)\}/.exec(hash)?.[1]} password hash`,
          code: 0,
        };
      }
      case "import-accounts": {
        const file = need(0, "a passwd-file");
        const lines = parsePasswdFile(await readFile(file, "utf8"), values.domain);
        const out: string[] = [];
        let created = 0;
        let updated = 0;
        for (const l of lines) {
          if (!l.ok) {
            out.push(`  line ${l.line}: ${l.reason}`);
            continue;
          }
          try {
            const a = await rt.store.accounts.create({
              address: l.address,
              password: randomBytes(24).toString("base64"),
            });
            await rt.store.passwordHashes.set(a.id, l.passwordHash);
            created++;
          } catch (err) {
            if (!(err instanceof AccountExistsError)) throw err;
            // Re-running the import brings changed passwords over; the account's mail is untouched.
            const a = await rt.store.accounts.byAddress(l.address);
            if (!a) throw err;
            await rt.store.passwordHashes.set(a.id, l.passwordHash);
            updated++;
          }
        }
        const bad = lines.length - created - updated;
        return {
          output: [`${created} accounts created, ${updated} updated, ${bad} lines refused`, ...out].join(
            "\n",
          ),
          code: bad > 0 ? 1 : 0,
        };
      }
      case "export": {
        const address = need(0, "an address");
        const path = need(1, "a path");
        const format = values.format;
        if (format !== "mbox" && format !== "maildir") throw new UsageError("--format is mbox or maildir");
        const s = await exportMail(deps, address, path, {
          format,
          ...(values.mailbox ? { mailbox: values.mailbox } : {}),
          onProgress: progressLine(values.quiet),
        });
        return {
          output: `exported ${s.exported} messages (${s.bytes} bytes) from ${s.mailboxes} mailbox(es) in ${s.seconds.toFixed(1)} s, ${rate(s.exported, s.seconds)}${s.resumed ? `; ${s.resumed} already there from an earlier run` : ""}`,
          code: 0,
        };
      }
      case "import": {
        const address = need(0, "an address");
        const path = need(1, "a path");
        const s = await importMail(deps, address, path, {
          maxBytes,
          ...(values.mailbox ? { mailbox: values.mailbox } : {}),
          onProgress: progressLine(values.quiet),
        });
        return {
          output: [
            `imported ${s.imported} messages (${s.bytes} bytes) in ${s.seconds.toFixed(1)} s, ${rate(s.imported, s.seconds)}; ${s.duplicates} already there; ${s.skipped.length} skipped`,
            ...skippedLines(s.skipped),
          ].join("\n"),
          code: s.skipped.length > 0 ? 1 : 0,
        };
      }
      case "migrate": {
        const address = need(0, "an address");
        if (!values.from || !values.user || !values["password-file"])
          throw new UsageError("migrate needs --from, --user and --password-file");
        const password = (await readFile(values["password-file"], "utf8")).replace(/\r?\n$/, "");
        const s = await migrateImap(deps, address, {
          from: values.from,
          user: values.user,
          password,
          maxBytes,
          ...(values["tls-insecure"] ? { tlsInsecure: true } : {}),
          onProgress: progressLine(values.quiet),
        });
        return {
          output: [
            `migrated ${s.folders} folders: ${s.copied} messages copied (${s.bytes} bytes) in ${s.seconds.toFixed(1)} s, ${rate(s.copied, s.seconds)}; ${s.duplicates} already there; flags updated on ${s.flagsUpdated}; ${s.skipped.length} skipped${s.reconnects ? `; ${s.reconnects} reconnects` : ""}`,
            ...skippedLines(s.skipped),
          ].join("\n"),
          code: s.skipped.length > 0 ? 1 : 0,
        };
      }
      case "gc": {
        const quiet = values.quiet || !process.stderr.isTTY;
        const r = await auditBlobs({
          store: rt.store,
          blobs: rt.blobs,
          ...(values["dry-run"] ? { dryRun: true } : {}),
          ...(values.restart ? { resume: false } : {}),
          onProgress: (p) => {
            if (!quiet) process.stderr.write(`\rscanned ${p.scanned}, unreferenced ${p.released}   `);
          },
        });
        const lines = [
          `${values["dry-run"] ? "dry run: " : ""}scanned ${r.scanned} blobs${r.resumedAfter ? ` (resumed after ${r.resumedAfter})` : ""}: ${r.referenced} referenced, ${r.released} unreferenced (${r.releasedBytes} bytes)${values["dry-run"] ? "" : " queued for the reclaimer"}`,
        ];
        if (values.reclaim && !values["dry-run"]) {
          const t = await new BlobReclaimer(
            { store: rt.store, blobs: rt.blobs },
            rt.config.lifecycle.blobReclaim,
          ).drain();
          lines.push(
            `reclaimed ${t.deleted} blobs (${t.bytes} bytes) due now; kept ${t.kept} referenced again`,
          );
        }
        const pending = await rt.store.blobReclaim.stats();
        lines.push(`pending deletion: ${pending.pendingObjects} blobs, ${pending.pendingBytes} bytes`);
        return { output: lines.join("\n"), code: 0 };
      }
      case "retention":
        return await retention(rt, args, values.domain);
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) return { output: `mailctl: ${err.message}\n${LIFECYCLE_USAGE}`, code: 2 };
    return { output: `mailctl: ${(err as Error).message}`, code: 1 };
  }
}

async function retention(rt: Runtime, args: string[], domain: string | undefined): Promise<MailctlResult> {
  const [sub = "list", ...rest] = args;
  const owner = async (): Promise<{ accountId: number } | { domain: string }> => {
    if (domain) return { domain };
    const address = rest.shift();
    if (!address) throw new UsageError("retention needs an address or --domain");
    const a = await rt.store.accounts.byAddress(address);
    if (!a) throw new Error(`no account ${address}`);
    return { accountId: a.id };
  };
  if (sub === "list") {
    const filter = domain ? { domain } : rest[0] ? await owner() : {};
    const rules = await rt.store.retention.listRules(filter);
    const defaults = rt.config.lifecycle.retention.defaults.map(
      (d) => `default  ${d.mailbox}  ${d.days} days`,
    );
    const lines = rules.map(
      (r) =>
        `${r.domain ? `domain ${r.domain}` : `account ${r.accountId}`}  ${r.mailbox}  ${r.days === 0 ? "keep" : `${r.days} days`}`,
    );
    return { output: [...lines, ...defaults].join("\n") || "(no retention rules)", code: 0 };
  }
  if (sub === "set" || sub === "delete") {
    const o = await owner();
    const mailbox = rest[0];
    if (!mailbox) throw new UsageError(`retention ${sub} needs a mailbox (a name or \\Trash, \\Junk…)`);
    if (sub === "delete") {
      const gone = await rt.store.retention.deleteRule({ ...o, mailbox });
      return { output: gone ? "rule removed" : "no such rule", code: gone ? 0 : 1 };
    }
    const days = Number(rest[1]);
    if (!/^\d+$/.test(rest[1] ?? "")) throw new UsageError("days is a whole number (0 keeps mail forever)");
    await rt.store.retention.setRule({ ...o, mailbox, days });
    return { output: `${mailbox}: ${days === 0 ? "kept forever" : `expunged after ${days} days`}`, code: 0 };
  }
  throw new UsageError(`unknown retention command ${sub}`);
}
