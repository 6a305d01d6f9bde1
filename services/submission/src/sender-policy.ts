/**
 * Who an authenticated account may send as (RFC 6409 §6.1 lets the MSA
 * enforce it): MAIL FROM and every From: address must be the account's
 * address or one of its aliases ("account"), or any address of those
 * addresses' domains ("domain"). The null reverse-path is not allowed from a
 * user: bounces are the MTA's to send.
 */
import type { Account } from "@aerogram/store";

export type SenderPolicy = "account" | "domain";

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

export function maySendAs(
  account: Pick<Account, "address" | "aliases">,
  address: string,
  policy: SenderPolicy,
): boolean {
  const a = address.trim().toLowerCase();
  if (!a.includes("@")) return false;
  const own = [account.address, ...account.aliases].map((x) => x.toLowerCase());
  if (own.includes(a)) return true;
  return policy === "domain" && own.some((x) => domainOf(x) === domainOf(a));
}
