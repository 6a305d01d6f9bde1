/**
 * The mailctl commands over AdminOps, separate from process plumbing: the same
 * command set runs against the store directly (embedded dev setup) or against
 * the admin HTTP API (AEROGRAM_ADMIN_URL), and tests can run either.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import {
  type AccountView,
  type AdminOps,
  ConflictError,
  InvalidInputError,
  type MailboxView,
  NotFoundError,
  type QueueEntryView,
} from "./admin-ops.ts";
import {
  IDENTITY_OPTIONS,
  IDENTITY_USAGE,
  IdentityUsageError,
  runIdentityCommand,
} from "./mailctl-identity.ts";
import { runSharingCommand, SHARING_USAGE } from "./sharing.ts";
import { runSieveCommand, SIEVE_USAGE } from "./sieve-admin.ts";

export const MAILCTL_USAGE = `usage: mailctl <command> [args]
  add <address> [--password <pw>] [--quota <bytes>]   create an account (prints a generated password if none given)
  list                                                list accounts with usage
  show <address>                                      one account
  passwd <address> [--password <pw>]                  set a new password (prints a generated one if none given)
  disable <address> | enable <address>                block or allow logins and delivery
  delete <address>                                    delete an account and its mail
  alias <address> <alias>                             add an alias address
  unalias <address> <alias>                           remove an alias address
  quota <address> <bytes|none>                        set or clear the storage quota
  mailboxes <address>                                 mailboxes with message counts and sizes
  health                                              readiness of the dependencies
  queue [--domain <d>]                                the outbound queue
  queue flush [<id>]                                  retry one entry (or all) now
  queue delete <id>                                   drop an entry (no delivery, no bounce)
  dkim add <domain> [--selector S] [--algorithm ed25519|rsa]
                                                      create a signing key; prints the DNS TXT record
  dkim list                                           keys and their DNS records
${SIEVE_USAGE}
  sender-policy                                       per-account/domain sender policy overrides
  sender-policy account <address> <account|domain|any|default>
  sender-policy domain <domain> <account|domain|any|default>
                                                      who a login may send as ("default": remove the override)
  help lifecycle                                      export, import, migrate, gc, retention, --password-hash
${IDENTITY_USAGE}
${SHARING_USAGE}
With AEROGRAM_ADMIN_URL (and ADMIN_TOKEN) set, mailctl goes through the admin API;
otherwise it opens the metadata store itself.`;

export interface MailctlResult {
  output: string;
  code: number;
}

export function formatAccount(a: AccountView): string {
  const parts = [a.address];
  if (a.disabled) parts.push("(disabled)");
  if (a.aliases.length) parts.push(`aliases: ${a.aliases.join(", ")}`);
  if (a.quotaBytes !== null) parts.push(`quota: ${a.quotaBytes} bytes`);
  parts.push(`${a.usage.messages} messages, ${a.usage.bytes} bytes`);
  return parts.join("  ");
}

function formatMailbox(m: MailboxView): string {
  const use = m.specialUse ? ` ${m.specialUse}` : "";
  return `${m.name}${use}  ${m.messages} messages, ${m.bytes} bytes${m.subscribed ? "" : "  (unsubscribed)"}`;
}

class UsageError extends Error {}

function parseId(text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError("a queue entry id is a number");
  return Number(text);
}

function formatQueueEntry(e: QueueEntryView): string {
  const state = e.leased ? "delivering" : `next ${e.nextAttemptAt}`;
  const err = e.lastError ? `\n    last error: ${e.lastError}` : "";
  return `${e.id}  ${e.domain}  <${e.sender}> -> ${e.recipients.join(", ")}  ${e.size} bytes  attempts ${e.attempts}  ${state}${err}`;
}

/** A BIND zone-file line; long TXT values split into 255-octet strings (RFC 1035 §3.3.14). */
function zoneLine(r: { name: string; value: string }): string {
  const chunks = r.value.match(/.{1,255}/g) ?? [];
  return `${r.name}. IN TXT ( ${chunks.map((c) => `"${c}"`).join(" ")} )`;
}

function parseQuota(text: string): number | null {
  if (text === "none") return null;
  const quota = Number(text);
  if (!(/^\d+$/.test(text) && Number.isSafeInteger(quota)))
    throw new UsageError("a quota is a byte count or none");
  return quota;
}

const OPTIONS = {
  password: { type: "string" },
  quota: { type: "string" },
  domain: { type: "string" },
  selector: { type: "string" },
  algorithm: { type: "string" },
  help: { type: "boolean", short: "h" },
  name: { type: "string" },
  activate: { type: "boolean" },
  ...IDENTITY_OPTIONS,
} as const;

function parseCommandLine(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
}

const POLICY_VALUES = ["account", "domain", "any", "default"] as const;

/** `mailctl sender-policy …` (issue 19). */
async function runSenderPolicy(ops: AdminOps, args: string[]): Promise<MailctlResult> {
  const [scope, name, value] = args;
  if (scope === undefined) {
    const p = await ops.listSenderPolicies();
    const lines = [
      ...p.accounts.map((a) => `account ${a.address}  ${a.policy}`),
      ...p.domains.map((d) => `domain ${d.domain}  ${d.policy}`),
    ];
    return { output: lines.join("\n") || "(no overrides: SUBMISSION_SENDER_POLICY applies)", code: 0 };
  }
  if ((scope !== "account" && scope !== "domain") || !name || !value)
    throw new UsageError("sender-policy needs account|domain <name> <account|domain|any|default>");
  if (!(POLICY_VALUES as readonly string[]).includes(value))
    throw new UsageError("a sender policy is account, domain, any or default");
  const policy = value === "default" ? null : (value as "account" | "domain" | "any");
  await ops.setSenderPolicy(scope === "account" ? { account: name } : { domain: name }, policy);
  return { output: `sender policy of ${scope} ${name}: ${value}`, code: 0 };
}

export async function runMailctl(ops: AdminOps, argv: string[]): Promise<MailctlResult> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    return { output: `mailctl: ${(err as Error).message}\n${MAILCTL_USAGE}`, code: 2 };
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (!command || values.help) return { output: MAILCTL_USAGE, code: command || values.help ? 0 : 2 };
  const need = (i: number, what: string): string => {
    const v = args[i];
    if (!v) throw new UsageError(`${command} needs ${what}`);
    return v;
  };

  try {
    switch (command) {
      case "add": {
        const address = need(0, "an address");
        const { account, generatedPassword } = await ops.createAccount({
          address,
          ...(values.quota !== undefined ? { quotaBytes: parseQuota(values.quota) } : {}),
          ...(values.password !== undefined ? { password: values.password } : {}),
        });
        const shown = generatedPassword === undefined ? "" : `  password: ${generatedPassword}`;
        return { output: `created ${account.address}${shown}`, code: 0 };
      }
      case "list": {
        const accounts = await ops.listAccounts();
        return { output: accounts.map(formatAccount).join("\n") || "(no accounts)", code: 0 };
      }
      case "show":
        return { output: formatAccount(await ops.getAccount(need(0, "an address"))), code: 0 };
      case "passwd": {
        const address = need(0, "an address");
        const { generatedPassword } = await ops.setPassword(address, values.password);
        const shown = generatedPassword === undefined ? "" : `: ${generatedPassword}`;
        return { output: `password changed for ${address.toLowerCase()}${shown}`, code: 0 };
      }
      case "disable":
      case "enable": {
        const a = await ops.updateAccount(need(0, "an address"), { disabled: command === "disable" });
        return { output: `${a.address} ${command}d`, code: 0 };
      }
      case "delete": {
        const address = need(0, "an address");
        await ops.deleteAccount(address);
        return { output: `deleted ${address.toLowerCase()}`, code: 0 };
      }
      case "alias": {
        const a = await ops.addAlias(need(0, "an address"), need(1, "the alias address"));
        return { output: `${(args[1] as string).toLowerCase()} now delivers to ${a.address}`, code: 0 };
      }
      case "unalias": {
        const a = await ops.removeAlias(need(0, "an address"), need(1, "the alias address"));
        return { output: `${(args[1] as string).toLowerCase()} removed from ${a.address}`, code: 0 };
      }
      case "quota": {
        const address = need(0, "an address");
        const quotaBytes = parseQuota(need(1, "a byte count or none"));
        const a = await ops.updateAccount(address, { quotaBytes });
        return {
          output: `quota of ${a.address}: ${a.quotaBytes === null ? "none" : `${a.quotaBytes} bytes`}`,
          code: 0,
        };
      }
      case "mailboxes": {
        const list = await ops.mailboxes(need(0, "an address"));
        return { output: list.map(formatMailbox).join("\n"), code: 0 };
      }
      case "health": {
        const h = await ops.health();
        const lines = h.checks.map(
          (c) => `${c.ok ? "ok  " : "FAIL"} ${c.name} (${c.ms} ms)${c.error ? `: ${c.error}` : ""}`,
        );
        return { output: [h.status, ...lines].join("\n"), code: h.status === "ready" ? 0 : 1 };
      }
      case "queue": {
        const sub = args[0];
        if (sub === undefined) {
          const entries = await ops.listQueue(values.domain ? { domain: values.domain } : {});
          return { output: entries.map(formatQueueEntry).join("\n") || "(queue empty)", code: 0 };
        }
        if (sub === "flush") {
          const id = args[1] === undefined ? undefined : parseId(args[1]);
          const { flushed } = await ops.flushQueue(id);
          return { output: `${flushed} entr${flushed === 1 ? "y" : "ies"} due now`, code: 0 };
        }
        if (sub === "delete") {
          const id = parseId(need(1, "a queue entry id"));
          await ops.deleteQueueEntry(id);
          return { output: `deleted queue entry ${id}`, code: 0 };
        }
        throw new UsageError(`unknown queue command ${sub}`);
      }
      case "dkim": {
        const sub = args[0];
        if (sub === "add") {
          const domain = need(1, "a domain");
          const algorithm = values.algorithm;
          if (algorithm !== undefined && algorithm !== "ed25519" && algorithm !== "rsa")
            throw new UsageError("--algorithm is ed25519 or rsa");
          const key = await ops.addDkimKey({
            domain,
            ...(values.selector ? { selector: values.selector } : {}),
            ...(algorithm ? { algorithm } : {}),
          });
          return {
            output: `created ${key.algorithm} key ${key.selector} for ${key.domain}; publish:\n${zoneLine(key.dns)}`,
            code: 0,
          };
        }
        if (sub === "list") {
          const keys = await ops.listDkimKeys();
          return {
            output:
              keys
                .map(
                  (k) =>
                    `${k.domain}  ${k.selector}  ${k.algorithm}${k.active ? "" : "  (inactive)"}\n  ${zoneLine(k.dns)}`,
                )
                .join("\n") || "(no DKIM keys)",
            code: 0,
          };
        }
        throw new UsageError(`dkim needs add or list`);
      }
      case "sieve":
      case "spam": {
        const r = await runSieveCommand(ops, command, args, values, (p) => readFile(p, "utf8"));
        if ("usage" in r) throw new UsageError(r.usage);
        return r;
      }
      case "sender-policy":
        return await runSenderPolicy(ops, args);
      default: {
        const quota = values.quota === undefined ? null : parseQuota(values.quota);
        const shared = await runSharingCommand(ops.sharing, command, args, need, quota);
        if (shared) return shared;
        const output = ops.identity
          ? await runIdentityCommand(ops.identity, command, args, values)
          : undefined;
        if (output === undefined) throw new UsageError(`unknown command ${command}`);
        return { output, code: 0 };
      }
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof IdentityUsageError)
      return { output: `mailctl: ${err.message}\n${MAILCTL_USAGE}`, code: 2 };
    if (err instanceof ConflictError || err instanceof InvalidInputError || err instanceof NotFoundError) {
      return { output: `mailctl: ${err.message}`, code: 1 };
    }
    throw err;
  }
}
