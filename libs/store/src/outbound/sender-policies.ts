/**
 * Sender policy overrides (migration 060): per account and per domain name.
 * Submission asks for the effective one for a login (account row, else the
 * row of the account address's domain, else none: the deployment default).
 * Domains are keyed by name (no foreign key), lower case.
 */
import type { Pool } from "../db.ts";

export type SenderPolicyName = "account" | "domain" | "any";

export const SENDER_POLICY_NAMES: readonly SenderPolicyName[] = ["account", "domain", "any"];

export interface SenderPolicyOverrides {
  accounts: { address: string; policy: SenderPolicyName }[];
  domains: { domain: string; policy: SenderPolicyName }[];
}

export class SenderPolicies {
  constructor(private readonly pool: Pool) {}

  /** The account's own policy, else its address's domain's; undefined: the deployment default. One round trip. */
  async effective(accountId: number): Promise<SenderPolicyName | undefined> {
    const { rows } = await this.pool.query<{ policy: SenderPolicyName | null }>(
      `SELECT coalesce(
         (SELECT policy FROM sender_policy_accounts WHERE account_id = a.id),
         (SELECT policy FROM sender_policy_domains
           WHERE domain = lower(substr(a.address, strpos(a.address, '@') + 1)))
       ) AS policy
         FROM accounts a WHERE a.id = $1`,
      [accountId],
    );
    return rows[0]?.policy ?? undefined;
  }

  /** Sets (or with null clears) an account's policy; false when there is no such account. */
  async setForAccount(accountId: number, policy: SenderPolicyName | null): Promise<boolean> {
    if (policy === null) {
      await this.pool.query("DELETE FROM sender_policy_accounts WHERE account_id = $1", [accountId]);
      return true;
    }
    const { rowCount } = await this.pool.query(
      `INSERT INTO sender_policy_accounts (account_id, policy)
       SELECT id, $2 FROM accounts WHERE id = $1
       ON CONFLICT (account_id) DO UPDATE SET policy = EXCLUDED.policy`,
      [accountId, policy],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Sets (or with null clears) a domain's policy. */
  async setForDomain(domain: string, policy: SenderPolicyName | null): Promise<void> {
    const d = domain.trim().toLowerCase();
    if (policy === null) {
      await this.pool.query("DELETE FROM sender_policy_domains WHERE domain = $1", [d]);
      return;
    }
    await this.pool.query(
      `INSERT INTO sender_policy_domains (domain, policy) VALUES ($1, $2)
       ON CONFLICT (domain) DO UPDATE SET policy = EXCLUDED.policy`,
      [d, policy],
    );
  }

  async list(): Promise<SenderPolicyOverrides> {
    const [accounts, domains] = await Promise.all([
      this.pool.query<{ address: string; policy: SenderPolicyName }>(
        `SELECT a.address, p.policy FROM sender_policy_accounts p JOIN accounts a ON a.id = p.account_id
          ORDER BY a.address`,
      ),
      this.pool.query<{ domain: string; policy: SenderPolicyName }>(
        "SELECT domain, policy FROM sender_policy_domains ORDER BY domain",
      ),
    ]);
    return { accounts: accounts.rows, domains: domains.rows };
  }
}
