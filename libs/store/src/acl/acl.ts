/**
 * Mailbox ACLs (RFC 4314) and the queries that find other accounts' mailboxes
 * an account may use (the IMAP "Other Users" namespace, RFC 2342).
 *
 * Rights are strings of the standard letters in canonical order
 * (`lrswipkxtea`). The owner of a mailbox has every right implicitly and has no
 * row (RFC 4314 §2: a right may always be granted to an identifier); a
 * grantee's rights are the union of its own row and the `anyone` and
 * `authenticated` rows (every user of this server is authenticated), less the
 * union of the negative rows that apply to it ("-<identifier>", RFC 4314 §2:
 * "-bob" takes rights from bob, "-anyone" from everyone).
 */
import { named, type Pool, type Queryable, withTransaction } from "../db.ts";
import { type Mailbox, toMailbox } from "../mailboxes/mailboxes.ts";

/** Every standard right in canonical order (RFC 4314 §2.1). */
export const ALL_RIGHTS = "lrswipkxtea";

/** Identifiers that name no account (RFC 4314 §2: "anyone"; "authenticated" is common practice). */
export const SPECIAL_IDENTIFIERS: readonly string[] = ["anyone", "authenticated"];

/** The letters of `rights` that are standard rights, deduplicated, in canonical order. */
export function canonicalRights(rights: string): string {
  let out = "";
  for (const r of ALL_RIGHTS) if (rights.includes(r)) out += r;
  return out;
}

/**
 * A rights string as SETACL takes it (RFC 4314 §3.1): an optional "+" or "-",
 * then rights. The obsolete "c" and "d" (RFC 2086) stand for the CREATE and
 * DELETE sets of §2.1.1 under RIGHTS=texk: "c" → "kx", "d" → "xte". Any other
 * letter is returned as `unknown` (the IMAP answer is BAD: §3.1).
 */
export function parseRightsText(
  text: string,
): { mode: "replace" | "add" | "remove"; rights: string } | { unknown: string } {
  const mode = text.startsWith("+") ? "add" : text.startsWith("-") ? "remove" : "replace";
  const body = mode === "replace" ? text : text.slice(1);
  let rights = "";
  for (const ch of body) {
    if (ALL_RIGHTS.includes(ch)) rights += ch;
    else if (ch === "c") rights += "kx";
    else if (ch === "d") rights += "xte";
    else return { unknown: ch };
  }
  return { mode, rights: canonicalRights(rights) };
}

export interface AclEntry {
  identifier: string;
  rights: string;
}

/** A mailbox of another account with the caller's rights on it ("" for none). */
export interface SharedMailbox extends Mailbox {
  ownerAddress: string;
  rights: string;
}

export type SetAclResult =
  | { ok: true; rights: string }
  | { ok: false; reason: "unknown-identifier" | "no-mailbox" };

const MAILBOX_COLUMNS =
  "m.id, m.account_id, m.name, m.special_use, m.subscribed, m.uidvalidity, m.uidnext, m.highestmodseq, m.message_count, m.total_size, m.keywords";

/** A negative entry's identifier starts with "-" (RFC 4314 §2). */
const NEGATIVE = "left(a.identifier, 1) = '-'";

/**
 * The caller's rights on mailbox `m` (an SQL expression; $1 is the caller's
 * account id): the letters of its positive entries without those of its
 * negative ones (translate() with an empty replacement deletes them).
 */
const CALLER_RIGHTS = `CASE WHEN m.account_id = $1 THEN '${ALL_RIGHTS}' ELSE
  translate(
    COALESCE((SELECT string_agg(a.rights, '') FROM mailbox_acl a
               WHERE a.mailbox_id = m.id AND (a.grantee_id = $1 OR a.grantee_id IS NULL) AND NOT ${NEGATIVE}), ''),
    COALESCE((SELECT string_agg(a.rights, '') FROM mailbox_acl a
               WHERE a.mailbox_id = m.id AND (a.grantee_id = $1 OR a.grantee_id IS NULL) AND ${NEGATIVE}), ''),
    '') END`;

type SharedRow = Parameters<typeof toMailbox>[0] & { owner_address: string; rights: string };

function toShared(r: SharedRow): SharedMailbox {
  return { ...toMailbox(r), ownerAddress: r.owner_address, rights: canonicalRights(r.rights) };
}

export class Acls {
  constructor(private readonly pool: Pool) {}

  /** GETACL: the explicit entries, identifiers sorted. */
  async entries(mailboxId: number): Promise<AclEntry[]> {
    const { rows } = await this.pool.query<AclEntry>(
      "SELECT identifier, rights FROM mailbox_acl WHERE mailbox_id = $1 ORDER BY identifier",
      [mailboxId],
    );
    return rows;
  }

  /**
   * SETACL: `mode` "replace" sets the identifier's rights, "add"/"remove" change
   * them (RFC 4314 §3.1 "+"/"-"); no rights left deletes the entry. Under the
   * mailbox row's lock, so concurrent changes to one ACL apply in turn.
   */
  set(
    mailboxId: number,
    identifier: string,
    mode: "replace" | "add" | "remove",
    rights: string,
  ): Promise<SetAclResult> {
    const id = identifier.trim().toLowerCase();
    return withTransaction(this.pool, async (tx) => {
      const locked = await tx.query("SELECT id FROM mailboxes WHERE id = $1 FOR UPDATE", [mailboxId]);
      if (!locked.rows[0]) return { ok: false, reason: "no-mailbox" } as const;
      let granteeId: number | null = null;
      // "-bob": a negative entry for bob (RFC 4314 §2), naming bob's account all the same.
      const named = id.startsWith("-") ? id.slice(1) : id;
      // A shared folder's login-less account is no one to grant rights to.
      if (named.startsWith("#") || named.startsWith("-"))
        return { ok: false, reason: "unknown-identifier" } as const;
      if (!SPECIAL_IDENTIFIERS.includes(named)) {
        const account = await tx.query<{ id: number }>("SELECT id FROM accounts WHERE address = $1", [named]);
        if (!account.rows[0]) return { ok: false, reason: "unknown-identifier" } as const;
        granteeId = account.rows[0].id;
      }
      const current = await tx.query<{ rights: string }>(
        "SELECT rights FROM mailbox_acl WHERE mailbox_id = $1 AND identifier = $2",
        [mailboxId, id],
      );
      const before = current.rows[0]?.rights ?? "";
      const wanted = canonicalRights(rights);
      const after =
        mode === "replace"
          ? wanted
          : mode === "add"
            ? canonicalRights(before + wanted)
            : canonicalRights([...before].filter((r) => !wanted.includes(r)).join(""));
      if (after === "") {
        await tx.query("DELETE FROM mailbox_acl WHERE mailbox_id = $1 AND identifier = $2", [mailboxId, id]);
      } else {
        await tx.query(
          `INSERT INTO mailbox_acl (mailbox_id, identifier, grantee_id, rights) VALUES ($1, $2, $3, $4)
             ON CONFLICT (mailbox_id, identifier) DO UPDATE SET rights = EXCLUDED.rights`,
          [mailboxId, id, granteeId, after],
        );
      }
      return { ok: true, rights: after } as const;
    });
  }

  /** DELETEACL: true when there was an entry. */
  async remove(mailboxId: number, identifier: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "DELETE FROM mailbox_acl WHERE mailbox_id = $1 AND identifier = $2",
      [mailboxId, identifier.trim().toLowerCase()],
    );
    return (rowCount ?? 0) > 0;
  }

  /** The account's rights on one mailbox (all of them for the owner). */
  async rightsOf(accountId: number, mailboxId: number): Promise<string> {
    return rightsOf(this.pool, accountId, mailboxId);
  }

  /**
   * Every mailbox of another account on which `accountId` has any right, with
   * the owner's address and those rights: one query, for LIST and NAMESPACE's tree.
   */
  async sharedWith(accountId: number): Promise<SharedMailbox[]> {
    const { rows } = await this.pool.query<SharedRow>(
      named(
        `SELECT ${MAILBOX_COLUMNS}, o.address AS owner_address,
                translate(COALESCE(string_agg(a.rights, '') FILTER (WHERE NOT ${NEGATIVE}), ''),
                          COALESCE(string_agg(a.rights, '') FILTER (WHERE ${NEGATIVE}), ''), '') AS rights
           FROM mailbox_acl a
           JOIN mailboxes m ON m.id = a.mailbox_id
           JOIN accounts o ON o.id = m.account_id
          WHERE (a.grantee_id = $1 OR a.grantee_id IS NULL) AND m.account_id <> $1
          GROUP BY m.id, o.address
          ORDER BY o.address, m.name`,
        [accountId],
      ),
    );
    return rows.map(toShared);
  }

  /**
   * What LIST shows, in ONE statement (issue 17: LIST was two round trips):
   * the account's own mailboxes by name (Mailboxes.list) and the other
   * accounts' mailboxes it has any right on (sharedWith), in their orders.
   */
  async listable(accountId: number): Promise<{ own: Mailbox[]; shared: SharedMailbox[] }> {
    const { rows } = await this.pool.query<SharedRow & { part: number }>(
      named(
        `SELECT ${MAILBOX_COLUMNS}, NULL::text AS owner_address, NULL::text AS rights, 0 AS part
           FROM mailboxes m WHERE m.account_id = $1
         UNION ALL
         SELECT ${MAILBOX_COLUMNS}, o.address,
                translate(COALESCE(string_agg(a.rights, '') FILTER (WHERE NOT ${NEGATIVE}), ''),
                          COALESCE(string_agg(a.rights, '') FILTER (WHERE ${NEGATIVE}), ''), ''), 1
           FROM mailbox_acl a
           JOIN mailboxes m ON m.id = a.mailbox_id
           JOIN accounts o ON o.id = m.account_id
          WHERE (a.grantee_id = $1 OR a.grantee_id IS NULL) AND m.account_id <> $1
          GROUP BY m.id, o.address
         ORDER BY part, owner_address, name`,
        [accountId],
      ),
    );
    const own: Mailbox[] = [];
    const shared: SharedMailbox[] = [];
    for (const r of rows) {
      if (r.part === 0) own.push(toMailbox(r));
      else shared.push(toShared(r));
    }
    return { own, shared };
  }

  /**
   * Another account's mailbox by its owner's address and its name, with the
   * caller's rights ("" when none: the caller must then treat it as absent).
   */
  async resolve(accountId: number, ownerAddress: string, name: string): Promise<SharedMailbox | undefined> {
    const { rows } = await this.pool.query<SharedRow>(
      `SELECT ${MAILBOX_COLUMNS}, o.address AS owner_address, ${CALLER_RIGHTS} AS rights
         FROM accounts o JOIN mailboxes m ON m.account_id = o.id
        WHERE o.address = $2 AND m.name = $3`,
      [accountId, ownerAddress.toLowerCase(), name],
    );
    return rows[0] && toShared(rows[0]);
  }

  /** Account ids with an explicit grant on any of these mailboxes (admin reports, tests). */
  async grantees(mailboxIds: readonly number[]): Promise<number[]> {
    const { rows } = await this.pool.query<{ grantee_id: number }>(
      "SELECT DISTINCT grantee_id FROM mailbox_acl WHERE mailbox_id = ANY($1::int[]) AND grantee_id IS NOT NULL AND left(identifier, 1) <> '-'",
      [mailboxIds],
    );
    return rows.map((r) => r.grantee_id);
  }
}

export async function rightsOf(db: Queryable, accountId: number, mailboxId: number): Promise<string> {
  const { rows } = await db.query<{ rights: string }>(
    `SELECT ${CALLER_RIGHTS} AS rights FROM mailboxes m WHERE m.id = $2`,
    [accountId, mailboxId],
  );
  return canonicalRights(rows[0]?.rights ?? "");
}
