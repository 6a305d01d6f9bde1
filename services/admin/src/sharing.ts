/**
 * Sharing a mailbox with other accounts (issue 24): the ACL of one account's
 * mailbox (RFC 4314 rights, libs/store acl/), as the admin API, mailctl and
 * IMAP SETACL all see it. Kept apart from admin-ops.ts: AdminOps carries it as
 * `sharing`, the API adds its routes, mailctl its commands.
 *
 *   mailctl share <owner> <mailbox> <grantee> <rights>   set (or +add / -remove) rights
 *   mailctl unshare <owner> <mailbox> <grantee>          remove the grantee's entry
 *   mailctl acl <owner> <mailbox>                        the mailbox's ACL
 *
 *   GET    /api/v1/accounts/:owner/acl/:mailbox                    {owner, mailbox, entries}
 *   PUT    /api/v1/accounts/:owner/acl/:mailbox/:grantee  {rights}
 *   DELETE /api/v1/accounts/:owner/acl/:mailbox/:grantee
 *
 * The grantee is an account address, "anyone" or "authenticated"; the owner
 * always has every right and is not in the ACL. The grantee sees the mailbox as
 * "Other Users/<owner>/<mailbox>" at its next LIST.
 */
import type { IncomingMessage } from "node:http";
import { normalizeMailboxName, parseRightsText, type Store } from "@aerogram/store";
import { z } from "zod";
import { InvalidInputError, NotFoundError } from "./admin-ops.ts";
import { readJsonBody } from "./http-json.ts";

export interface AclView {
  owner: string;
  mailbox: string;
  entries: { identifier: string; rights: string }[];
}

export interface SharingOps {
  /** `rights`: letters of lrswipkxtea (c, d accepted), optionally "+"/"-" prefixed; "" removes the entry. */
  share(owner: string, mailbox: string, grantee: string, rights: string): Promise<AclView>;
  unshare(owner: string, mailbox: string, grantee: string): Promise<AclView>;
  acl(owner: string, mailbox: string): Promise<AclView>;
}

export class StoreSharing implements SharingOps {
  constructor(private readonly store: Store) {}

  async #mailbox(owner: string, name: string): Promise<{ id: number; owner: string; name: string }> {
    const account = await this.store.accounts.byAddress(owner);
    if (!account) throw new NotFoundError(`no account ${owner.toLowerCase()}`);
    const mailbox = await this.store.mailboxes.byName(account.id, normalizeMailboxName(name));
    if (!mailbox) throw new NotFoundError(`${account.address} has no mailbox ${name}`);
    return { id: mailbox.id, owner: account.address, name: mailbox.name };
  }

  async #view(m: { id: number; owner: string; name: string }): Promise<AclView> {
    return { owner: m.owner, mailbox: m.name, entries: await this.store.acl.entries(m.id) };
  }

  async share(owner: string, mailbox: string, grantee: string, rights: string): Promise<AclView> {
    const parsed = parseRightsText(rights);
    if ("unknown" in parsed)
      throw new InvalidInputError(`unknown right "${parsed.unknown}" (rights: lrswipkxtea)`);
    const m = await this.#mailbox(owner, mailbox);
    if (grantee.trim().toLowerCase() === m.owner) {
      throw new InvalidInputError("the owner always has every right");
    }
    const result = await this.store.acl.set(m.id, grantee, parsed.mode, parsed.rights);
    if (!result.ok) {
      if (result.reason === "unknown-identifier")
        throw new NotFoundError(`no account ${grantee.toLowerCase()}`);
      throw new NotFoundError(`${m.owner} has no mailbox ${mailbox}`);
    }
    return this.#view(m);
  }

  async unshare(owner: string, mailbox: string, grantee: string): Promise<AclView> {
    const m = await this.#mailbox(owner, mailbox);
    await this.store.acl.remove(m.id, grantee);
    return this.#view(m);
  }

  async acl(owner: string, mailbox: string): Promise<AclView> {
    return this.#view(await this.#mailbox(owner, mailbox));
  }
}

type Call = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** SharingOps over the admin API (mailctl with AEROGRAM_ADMIN_URL). */
export class HttpSharing implements SharingOps {
  constructor(private readonly call: Call) {}

  #path(owner: string, mailbox: string, grantee?: string): string {
    const base = `/accounts/${encodeURIComponent(owner)}/acl/${encodeURIComponent(mailbox)}`;
    return grantee === undefined ? base : `${base}/${encodeURIComponent(grantee)}`;
  }

  share(owner: string, mailbox: string, grantee: string, rights: string): Promise<AclView> {
    return this.call("PUT", this.#path(owner, mailbox, grantee), { rights });
  }

  unshare(owner: string, mailbox: string, grantee: string): Promise<AclView> {
    return this.call("DELETE", this.#path(owner, mailbox, grantee));
  }

  acl(owner: string, mailbox: string): Promise<AclView> {
    return this.call("GET", this.#path(owner, mailbox));
  }
}

const rightsBody = z.strictObject({ rights: z.string().max(64) });

type Route = (req: IncomingMessage, params: string[]) => Promise<[number, unknown]>;

/** The admin API's routes for sharing (admin-api.ts adds them to its table). */
export function sharingRoutes(ops: SharingOps, parseBody: <T>(schema: z.ZodType<T>, body: unknown) => T) {
  const seg = "([^/]+)";
  const routes: [string, RegExp, Route][] = [
    ["GET", new RegExp(`^/accounts/${seg}/acl/${seg}$`), async (_, [o, m]) => [200, await ops.acl(o!, m!)]],
    [
      "PUT",
      new RegExp(`^/accounts/${seg}/acl/${seg}/${seg}$`),
      async (req, [o, m, g]) => {
        const body = parseBody(rightsBody, await readJsonBody(req));
        return [200, await ops.share(o!, m!, g!, body.rights)];
      },
    ],
    [
      "DELETE",
      new RegExp(`^/accounts/${seg}/acl/${seg}/${seg}$`),
      async (_, [o, m, g]) => [200, await ops.unshare(o!, m!, g!)],
    ],
  ];
  return routes;
}

export const SHARING_USAGE = `  share <owner> <mailbox> <grantee> <rights>          share a mailbox (rights lrswipkxtea, +/- to add/remove; grantee an address, anyone or authenticated)
  unshare <owner> <mailbox> <grantee>                 stop sharing a mailbox with the grantee
  acl <owner> <mailbox>                               who a mailbox is shared with`;

export function formatAcl(view: AclView): string {
  const lines = view.entries.map((e) => `  ${e.identifier}  ${e.rights}`);
  return [`${view.owner} ${view.mailbox}`, ...(lines.length ? lines : ["  (not shared)"])].join("\n");
}

/** mailctl's sharing commands; null when `command` is not one of them. */
export async function runSharingCommand(
  ops: SharingOps,
  command: string,
  args: string[],
  need: (i: number, what: string) => string,
): Promise<{ output: string; code: number } | null> {
  switch (command) {
    case "share": {
      const view = await ops.share(
        need(0, "an owner address"),
        need(1, "a mailbox"),
        need(2, "a grantee"),
        args[3] ?? need(3, "rights"),
      );
      return { output: formatAcl(view), code: 0 };
    }
    case "unshare":
      return {
        output: formatAcl(
          await ops.unshare(need(0, "an owner address"), need(1, "a mailbox"), need(2, "a grantee")),
        ),
        code: 0,
      };
    case "acl":
      return { output: formatAcl(await ops.acl(need(0, "an owner address"), need(1, "a mailbox"))), code: 0 };
    default:
      return null;
  }
}
