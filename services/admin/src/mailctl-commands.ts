/**
 * The mailctl commands over a Store, separate from process plumbing so tests
 * can run them against a real database.
 */
import { parseArgs } from "node:util";
import type { Account, Store } from "@aerogram/store";

export const MAILCTL_USAGE = `usage: mailctl <command> [args]
  add <address> [--password <pw>] [--quota <bytes>]   create an account (prints a generated password if none given)
  list                                                list accounts
  passwd <address> [--password <pw>]                  set a new password
  disable <address> | enable <address>                block or allow logins and delivery
  delete <address>                                    delete an account and its mail
  alias <address> <alias>                             add an alias address`;

export interface MailctlResult {
  output: string;
  code: number;
}

function formatAccount(a: Account, usage?: { bytes: number; messages: number }): string {
  const parts = [a.address];
  if (a.disabled) parts.push("(disabled)");
  if (a.aliases.length) parts.push(`aliases: ${a.aliases.join(", ")}`);
  if (a.quotaBytes !== null) parts.push(`quota: ${a.quotaBytes} bytes`);
  if (usage) parts.push(`${usage.messages} messages, ${usage.bytes} bytes`);
  return parts.join("  ");
}

export async function runMailctl(
  store: Store,
  argv: string[],
  generatePassword: () => string,
): Promise<MailctlResult> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      password: { type: "string" },
      quota: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...args] = positionals;
  if (!command || values.help) return { output: MAILCTL_USAGE, code: command || values.help ? 0 : 2 };

  const account = async (address: string | undefined) => {
    if (!address) throw new UsageError(`${command} needs an address`);
    const a = await store.accounts.byAddress(address);
    if (!a) throw new UsageError(`no account ${address}`);
    return a;
  };
  try {
    switch (command) {
      case "add": {
        if (!args[0]) throw new UsageError("add needs an address");
        const password = values.password ?? generatePassword();
        const quota = values.quota === undefined ? null : Number(values.quota);
        if (quota !== null && !(Number.isInteger(quota) && quota >= 0))
          throw new UsageError("--quota takes a byte count");
        const a = await store.accounts.create({ address: args[0], password, quotaBytes: quota });
        return { output: `created ${a.address}${values.password ? "" : `  password: ${password}`}`, code: 0 };
      }
      case "list": {
        const accounts = await store.accounts.list();
        const lines = await Promise.all(
          accounts.map(async (a) => formatAccount(a, await store.accounts.usage(a.id))),
        );
        return { output: lines.join("\n") || "(no accounts)", code: 0 };
      }
      case "passwd": {
        const a = await account(args[0]);
        const password = values.password ?? generatePassword();
        await store.accounts.setPassword(a.id, password);
        return {
          output: `password changed for ${a.address}${values.password ? "" : `: ${password}`}`,
          code: 0,
        };
      }
      case "disable":
      case "enable": {
        const a = await account(args[0]);
        await store.accounts.setDisabled(a.id, command === "disable");
        return { output: `${a.address} ${command}d`, code: 0 };
      }
      case "delete": {
        const a = await account(args[0]);
        await store.accounts.delete(a.id);
        return { output: `deleted ${a.address}`, code: 0 };
      }
      case "alias": {
        const a = await account(args[0]);
        if (!args[1]) throw new UsageError("alias needs the alias address");
        await store.accounts.addAlias(a.id, args[1]);
        return { output: `${args[1].toLowerCase()} now delivers to ${a.address}`, code: 0 };
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) return { output: `mailctl: ${err.message}\n${MAILCTL_USAGE}`, code: 2 };
    if (err instanceof Error && /already taken|not a mailbox address/.test(err.message)) {
      return { output: `mailctl: ${err.message}`, code: 1 };
    }
    throw err;
  }
}

class UsageError extends Error {}
