/**
 * Who an authenticated account may send as (RFC 6409 §6.1 lets the MSA
 * enforce it): MAIL FROM and every From: address must be the account's
 * address or one of its aliases ("account"), or any address of those
 * addresses' domains ("domain"), or anything ("any": for an application or
 * list account the operator trusts). The null reverse-path is never allowed
 * from a user: bounces are the MTA's to send.
 *
 * The policy is configurable per account and per domain (store
 * senderPolicies: the account's row, else its address domain's row), else
 * SUBMISSION_SENDER_POLICY. SenderPolicyCache resolves it once per login and
 * keeps it for a few seconds, so a busy session costs no query per message.
 */
import type { Account, SenderPolicyName, Store } from "@aerogram/store";

export type SenderPolicy = SenderPolicyName;

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
  if (policy === "any") return true;
  const own = [account.address, ...account.aliases].map((x) => x.toLowerCase());
  if (own.includes(a)) return true;
  return policy === "domain" && own.some((x) => domainOf(x) === domainOf(a));
}

/** The effective policy per account id, cached for `ttlMs` (a change reaches new sessions within it). */
export class SenderPolicyCache {
  private readonly cache = new Map<number, { policy: SenderPolicy; until: number }>();

  constructor(
    private readonly store: Pick<Store, "senderPolicies">,
    private readonly fallback: SenderPolicy,
    private readonly ttlMs = 5000,
  ) {}

  /** Throws when the store is unreachable (the caller answers 4xx). */
  async policyFor(accountId: number): Promise<SenderPolicy> {
    const now = Date.now();
    const hit = this.cache.get(accountId);
    if (hit && hit.until > now) return hit.policy;
    const policy = (await this.store.senderPolicies.effective(accountId)) ?? this.fallback;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(accountId, { policy, until: now + this.ttlMs });
    return policy;
  }
}
