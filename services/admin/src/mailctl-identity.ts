/**
 * mailctl's identity commands (issue 23), imported by mailctl-commands.ts:
 * domains, forwarding addresses, app passwords, "require app passwords".
 */
import type { DomainSettings } from "@aerogram/store";
import type { DomainView, IdentityOps } from "./identity-ops.ts";

export const IDENTITY_USAGE = `  domain add <domain> [--alias-of <d>] [--catch-all <addr>] [--quota <bytes>] [--retention-days <n>] [--spam-action inbox|junk|reject]
                                                      host a domain (with its defaults): --quota for new
                                                      accounts; --retention-days for \\Trash and \\Junk below
                                                      any retention rule, above RETENTION_DEFAULTS;
                                                      --spam-action for spam verdicts unless the account
                                                      chose (mailctl spam); reject = 550 5.7.1 at DATA
  domain set <domain> [same options; "none" clears]   change a domain's settings
  domain list | show <domain> | delete <domain>       domains (delete refuses while it has accounts)
  forward add <address> <target>[,<target>...]        forward an address to other addresses
  forward list [--domain <d>] | remove <address>
  app-password add <address> <name> [--protocols imap,pop3,submission,managesieve]
                                                      create one (prints the secret once)
  app-password list <address> | revoke <address> <name>
                                                      revoking ends the account's sessions everywhere
  require-app-passwords <address> on|off              mail protocols accept only app passwords`;

export const IDENTITY_OPTIONS = {
  "alias-of": { type: "string" },
  "catch-all": { type: "string" },
  "retention-days": { type: "string" },
  "spam-action": { type: "string" },
  protocols: { type: "string" },
} as const;

export class IdentityUsageError extends Error {}

export interface IdentityValues {
  quota?: string | undefined;
  domain?: string | undefined;
  "alias-of"?: string | undefined;
  "catch-all"?: string | undefined;
  "retention-days"?: string | undefined;
  "spam-action"?: string | undefined;
  protocols?: string | undefined;
}

function count(text: string, what: string): number | null {
  if (text === "none") return null;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new IdentityUsageError(`${what} is a whole number or none`);
  return Number(text);
}

function settingsFrom(v: IdentityValues): DomainSettings {
  const s: DomainSettings = {};
  if (v["alias-of"] !== undefined) s.aliasOf = v["alias-of"] === "none" ? null : v["alias-of"];
  if (v["catch-all"] !== undefined) s.catchAll = v["catch-all"] === "none" ? null : v["catch-all"];
  if (v.quota !== undefined) s.defaultQuotaBytes = count(v.quota, "--quota");
  if (v["retention-days"] !== undefined) s.retentionDays = count(v["retention-days"], "--retention-days");
  const spam = v["spam-action"];
  if (spam !== undefined) {
    if (spam !== "none" && spam !== "inbox" && spam !== "junk" && spam !== "reject")
      throw new IdentityUsageError("--spam-action is inbox, junk, reject or none");
    s.spamAction = spam === "none" ? null : spam;
  }
  return s;
}

export function formatDomain(d: DomainView): string {
  const parts = [d.name];
  if (d.aliasOf) parts.push(`alias of ${d.aliasOf}`);
  if (d.catchAll) parts.push(`catch-all: ${d.catchAll}`);
  if (d.defaultQuotaBytes !== null) parts.push(`default quota: ${d.defaultQuotaBytes} bytes`);
  if (d.retentionDays !== null) parts.push(`retention: ${d.retentionDays} days`);
  if (d.spamAction) parts.push(`spam: ${d.spamAction}`);
  parts.push(`${d.accounts} account${d.accounts === 1 ? "" : "s"}`);
  return parts.join("  ");
}

/** Runs an identity command; undefined when `command` is not one of them. */
export async function runIdentityCommand(
  ops: IdentityOps,
  command: string,
  args: string[],
  values: IdentityValues,
): Promise<string | undefined> {
  const need = (i: number, what: string): string => {
    const v = args[i];
    if (!v) throw new IdentityUsageError(`${command} ${args[0] ?? ""} needs ${what}`.replace(/ +/g, " "));
    return v;
  };
  switch (command) {
    case "domain": {
      const sub = args[0];
      if (sub === "add") return formatDomain(await ops.addDomain(need(1, "a domain"), settingsFrom(values)));
      if (sub === "set")
        return formatDomain(await ops.updateDomain(need(1, "a domain"), settingsFrom(values)));
      if (sub === "list") return (await ops.listDomains()).map(formatDomain).join("\n") || "(no domains)";
      if (sub === "show") return formatDomain(await ops.getDomain(need(1, "a domain")));
      if (sub === "delete") {
        const d = need(1, "a domain");
        await ops.deleteDomain(d);
        return `deleted domain ${d.toLowerCase()}`;
      }
      throw new IdentityUsageError("domain needs add, set, list, show or delete");
    }
    case "forward": {
      const sub = args[0];
      if (sub === "add") {
        const f = await ops.setForward(need(1, "an address"), need(2, "the target addresses").split(","));
        return `${f.address} forwards to ${f.targets.join(", ")}`;
      }
      if (sub === "list") {
        const list = await ops.listForwards(values.domain);
        return list.map((f) => `${f.address} -> ${f.targets.join(", ")}`).join("\n") || "(no forwards)";
      }
      if (sub === "remove") {
        const a = need(1, "an address");
        await ops.removeForward(a);
        return `removed forward ${a.toLowerCase()}`;
      }
      throw new IdentityUsageError("forward needs add, list or remove");
    }
    case "app-password": {
      const sub = args[0];
      if (sub === "add") {
        const protocols = values.protocols?.split(",").map((p) => p.trim());
        const { appPassword, secret } = await ops.addAppPassword(
          need(1, "an address"),
          need(2, "a name"),
          protocols,
        );
        return `app password ${appPassword.name} (${appPassword.protocols.join(", ")}): ${secret}`;
      }
      if (sub === "list") {
        const list = await ops.listAppPasswords(need(1, "an address"));
        return (
          list
            .map((p) => {
              const used = p.lastUsedAt ? `last used ${p.lastUsedAt} from ${p.lastUsedIp}` : "never used";
              const state = p.revokedAt ? `  (revoked ${p.revokedAt})` : "";
              return `${p.name}  ${p.protocols.join(",")}  created ${p.createdAt}  ${used}${state}`;
            })
            .join("\n") || "(no app passwords)"
        );
      }
      if (sub === "revoke") {
        const address = need(1, "an address");
        const name = need(2, "a name");
        await ops.revokeAppPassword(address, name);
        return `revoked app password ${name} of ${address.toLowerCase()}; its sessions are being closed`;
      }
      throw new IdentityUsageError("app-password needs add, list or revoke");
    }
    case "require-app-passwords": {
      const address = need(0, "an address");
      const mode = need(1, "on or off");
      if (mode !== "on" && mode !== "off")
        throw new IdentityUsageError("require-app-passwords takes on or off");
      await ops.setRequireAppPasswords(address, mode === "on");
      return `${address.toLowerCase()}: app passwords ${mode === "on" ? "required" : "optional"}`;
    }
    default:
      return undefined;
  }
}
