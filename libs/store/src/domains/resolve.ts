/**
 * Recipient resolution: which account (or forward) an envelope address
 * reaches, for SMTP-in's RCPT TO and submission's local recipients.
 *
 * In order, the first that exists wins:
 *   1. the address itself: an account, an account alias or a forward;
 *   2. with sub-addressing (RFC 5233), `user+tag@domain` → `user@domain`
 *      (the tag is kept as `detail` for Sieve's :detail);
 *   3. on an alias domain, the same two steps with the target domain;
 *   4. the domain's catch-all address.
 * Steps 1 and 2 (and the account's quota/INBOX/Sieve facts) are one statement: the
 * common case costs one round trip; alias domains and catch-alls add one each.
 */
import type { Queryable } from "../db.ts";

/** The default RFC 5233 separator (Postfix's recipient_delimiter). */
export const DEFAULT_RECIPIENT_DELIMITER = "+";

export interface ResolvedAccount {
  id: number;
  address: string;
  quotaBytes: number | null;
  disabled: boolean;
  /** Undefined only if the INBOX is missing (it is created with the account). */
  inboxId: number | undefined;
  /** Bytes stored in all its mailboxes; only read when it has a quota. */
  usedBytes: number | undefined;
  /** It has an active Sieve script (delivery loads it only then). */
  hasSieve: boolean;
}

export interface Resolution {
  /** The address's domain is one we host (a domain or an alias domain). */
  localDomain: boolean;
  account?: ResolvedAccount;
  /** The address forwards to these addresses (through the outbound queue). */
  forward?: string[];
  /** The sub-address detail (`news` of `user+news@domain`), when the match was on the base address. */
  detail?: string;
  /** How it matched (for logs and tests). */
  via?: "address" | "subaddress" | "alias-domain" | "catch-all";
}

/**
 * Splits `user+tag` at the first delimiter character (any of `delimiters`);
 * undefined when there is none or it would leave an empty user part.
 */
export function splitDetail(local: string, delimiters: string): { user: string; detail: string } | undefined {
  if (!delimiters) return undefined;
  let at = -1;
  for (const ch of delimiters) {
    const i = local.indexOf(ch);
    if (i > 0 && (at < 0 || i < at)) at = i;
  }
  if (at <= 0) return undefined;
  return { user: local.slice(0, at), detail: local.slice(at + 1) };
}

interface MatchRow {
  local_domain: boolean;
  alias_of: string | null;
  catch_all: string | null;
  ord: number | null;
  kind: "account" | "forward" | null;
  targets: string[] | null;
  id: number | null;
  address: string | null;
  quota_bytes: number | null;
  disabled: boolean | null;
  inbox_id: number | null;
  used_bytes: number | null;
  has_sieve: boolean | null;
}

const MATCH_SQL = `
  SELECT d.name IS NOT NULL AS local_domain, d.alias_of, d.catch_all,
         m.ord, m.kind, m.targets,
         a.id, a.address, a.quota_bytes, a.disabled,
         (SELECT id FROM mailboxes WHERE account_id = a.id AND name = 'INBOX') AS inbox_id,
         CASE WHEN a.quota_bytes IS NOT NULL THEN
           (SELECT COALESCE(sum(total_size), 0)::bigint FROM mailboxes WHERE account_id = a.id)
         END AS used_bytes,
         EXISTS (SELECT 1 FROM sieve_scripts WHERE account_id = a.id AND active) AS has_sieve
    FROM (SELECT 1) AS one
    LEFT JOIN domains d ON d.name = $2
    LEFT JOIN LATERAL (
      SELECT c.ord, x.kind, x.account_id, x.targets
        FROM unnest($1::text[]) WITH ORDINALITY AS c(addr, ord)
        JOIN LATERAL (
          SELECT 'account' AS kind, id AS account_id, NULL::text[] AS targets FROM accounts WHERE address = c.addr
          UNION ALL SELECT 'account', account_id, NULL FROM account_aliases WHERE address = c.addr
          UNION ALL SELECT 'forward', NULL, targets FROM address_forwards WHERE address = c.addr
        ) x ON true
       ORDER BY c.ord LIMIT 1
    ) m ON true
    LEFT JOIN accounts a ON a.id = m.account_id`;

function toAccount(r: MatchRow): ResolvedAccount {
  return {
    id: r.id!,
    address: r.address!,
    quotaBytes: r.quota_bytes,
    disabled: r.disabled ?? false,
    inboxId: r.inbox_id ?? undefined,
    usedBytes: r.used_bytes === null ? undefined : Number(r.used_bytes),
    hasSieve: r.has_sieve ?? false,
  };
}

async function match(db: Queryable, candidates: string[], domain: string): Promise<MatchRow> {
  const { rows } = await db.query<MatchRow>(MATCH_SQL, [candidates, domain]);
  return rows[0]!;
}

function found(r: MatchRow): Pick<Resolution, "account" | "forward"> | undefined {
  if (r.kind === "account" && r.id !== null) return { account: toAccount(r) };
  if (r.kind === "forward" && r.targets) return { forward: r.targets };
  return undefined;
}

/** Resolves a lowercased `local@domain` (see the module comment for the order). */
export async function resolveRecipient(
  db: Queryable,
  address: string,
  delimiters: string = DEFAULT_RECIPIENT_DELIMITER,
): Promise<Resolution> {
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const split = splitDetail(local, delimiters);
  const candidates = (d: string) => (split ? [`${local}@${d}`, `${split.user}@${d}`] : [`${local}@${d}`]);
  const withDetail = (r: MatchRow): Pick<Resolution, "detail"> =>
    split && r.ord === 2 ? { detail: split.detail } : {};

  const first = await match(db, candidates(domain), domain);
  const direct = found(first);
  if (direct) {
    const via = split && first.ord === 2 ? "subaddress" : "address";
    return { localDomain: first.local_domain, ...direct, ...withDetail(first), via };
  }
  if (!first.local_domain) return { localDomain: false };

  let catchAll = first.catch_all;
  if (first.alias_of) {
    const target = await match(db, candidates(first.alias_of), first.alias_of);
    const hit = found(target);
    if (hit) return { localDomain: true, ...hit, ...withDetail(target), via: "alias-domain" };
    catchAll ??= target.catch_all;
  }
  if (catchAll) {
    const c = await match(db, [catchAll], domainOfAddress(catchAll));
    const hit = found(c);
    if (hit) return { localDomain: true, ...hit, via: "catch-all" };
  }
  return { localDomain: true };
}

function domainOfAddress(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}
