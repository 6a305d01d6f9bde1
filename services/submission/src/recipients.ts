/**
 * RCPT TO on submission: an authenticated user may send anywhere. An address
 * of a domain we host must be an existing, enabled account (550 5.1.1
 * otherwise: better told now than bounced later) and is delivered at once
 * through libs/delivery; any other domain goes into the outbound queue.
 */

import { localError, SmtpReply } from "@aerogram/smtp";
import type { Store } from "@aerogram/store";

export type { RecipientDsn } from "@aerogram/store";

export type RoutedRecipient =
  | { kind: "local"; address: string; accountId: number; inboxId: number }
  | { kind: "remote"; address: string; domain: string };

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Whether a domain is ours, remembered for a few seconds: every RCPT asks,
 * and the answer changes only when an operator adds a domain's first account
 * (which then takes effect within LOCAL_DOMAIN_TTL_MS on each replica).
 */
const LOCAL_DOMAIN_TTL_MS = 10_000;
const cachesByStore = new WeakMap<Store, Map<string, { local: boolean; expires: number }>>();

async function isLocalDomain(store: Store, domain: string): Promise<boolean> {
  let localDomains = cachesByStore.get(store);
  if (!localDomains) {
    localDomains = new Map();
    cachesByStore.set(store, localDomains);
  }
  const now = Date.now();
  const hit = localDomains.get(domain);
  if (hit && hit.expires > now) return hit.local;
  const local = await store.accounts.isLocalDomain(domain);
  if (localDomains.size >= 10_000) localDomains.clear();
  localDomains.set(domain, { local, expires: now + LOCAL_DOMAIN_TTL_MS });
  return local;
}

/**
 * Where one RCPT goes. A local address is resolved like SMTP-in's (libs/store
 * recipient resolution: aliases, `user+tag` sub-addresses with `delimiters`,
 * alias domains, catch-alls); a forwarding address becomes its targets.
 */
export async function routeRecipient(
  store: Store,
  raw: string,
  delimiters = "+",
): Promise<RoutedRecipient | RoutedRecipient[] | SmtpReply> {
  const address = raw.trim();
  const at = address.lastIndexOf("@");
  const domain = address.slice(at + 1).toLowerCase();
  if (at < 1 || !DOMAIN.test(domain) || at > 64) {
    return new SmtpReply(553, "5.1.3", "Bad recipient address syntax", "syntax");
  }
  try {
    if (!(await isLocalDomain(store, domain))) return { kind: "remote", address, domain };
    const found = await store.accounts.recipient(address, delimiters);
    if (found.forward) {
      return found.forward.map((to) => ({
        kind: "remote",
        address: to,
        domain: to.slice(to.lastIndexOf("@") + 1),
      }));
    }
    const account = found.account;
    if (!account) return new SmtpReply(550, "5.1.1", "No such user here", "unknown_user");
    if (account.disabled) return new SmtpReply(550, "5.2.1", "Mailbox disabled", "disabled");
    if (account.inboxId === undefined) return localError("Mailbox temporarily unavailable");
    return { kind: "local", address: address.toLowerCase(), accountId: account.id, inboxId: account.inboxId };
  } catch {
    return localError();
  }
}
