/**
 * Sharing a mailbox with other accounts (issue 24): the ACL of one account's
 * mailbox (RFC 4314 rights, libs/store acl/), as the admin API, mailctl and
 * IMAP SETACL all see it. Kept apart from admin-ops.ts: AdminOps carries it as
 * `sharing`, the API adds its routes, mailctl its commands.
 *
 *   mailctl share <owner> <mailbox> <grantee> <rights>   set (or +add / -remove) rights
 *   mailctl unshare <owner> <mailbox> <grantee>          remove the grantee's entry
 *   mailctl acl <owner> <mailbox>                        the mailbox's ACL
 *   mailctl seen <owner> <mailbox> [per-user|shared]     whose \Seen grantees see (show or set)
 *   mailctl shared create <name> [--quota <bytes>] | shared list | shared delete <name>
 *     a shared folder, owned by no user ("Shared/<name>" in IMAP; its root mailbox is
 *     its INBOX: `share Shared/<name> INBOX <grantee> <rights>`)
 *
 *   GET    /api/v1/accounts/:owner/acl/:mailbox                    {owner, mailbox, entries}
 *   PUT    /api/v1/accounts/:owner/acl/:mailbox/:grantee  {rights}
 *   DELETE /api/v1/accounts/:owner/acl/:mailbox/:grantee
 *   GET    /api/v1/accounts/:owner/seen/:mailbox                   {owner, mailbox, seen}
 *   PUT    /api/v1/accounts/:owner/seen/:mailbox  {seen: "per-user"|"shared"}
 *   GET / POST {name, quotaBytes?} /api/v1/shared-folders, DELETE /api/v1/shared-folders/:name
 *   (:owner may be "Shared/<name>", URL-encoded)
 *
 * The grantee is an account address, "anyone" or "authenticated"; the owner
 * always has every right and is not in the ACL. The grantee sees the mailbox as
 * "Other Users/<owner>/<mailbox>" at its next LIST.
 *
 * \Seen on a shared mailbox is per user by default: the owner's is the
 * message's flag, every grantee has its own (libs/store acl/private-seen.ts).
 * "shared" makes it common (a support@ queue where one agent's reading is
 * everyone's); a session sees a change of the mode at its next SELECT.
 */
import type { IncomingMessage } from "node:http";
import {
  normalizeMailboxName,
  parseRightsText,
  SHARED_FOLDER_PREFIX,
  type SharedFolder,
  SharedFolderNameError,
  type Store,
} from "@aerogram/store";
import { z } from "zod";
import { ConflictError, InvalidInputError, NotFoundError } from "./admin-ops.ts";
import { readJsonBody } from "./http-json.ts";

export interface AclView {
  owner: string;
  mailbox: string;
  entries: { identifier: string; rights: string }[];
}

/** Whose \Seen a mailbox's grantees see: each their own, or the owner's (common to all). */
export type SeenMode = "per-user" | "shared";

export interface SeenModeView {
  owner: string;
  mailbox: string;
  seen: SeenMode;
}

export interface SharedFolderView {
  /** As IMAP users see it: "Shared/<name>". */
  name: string;
  quotaBytes: number | null;
  usage: { bytes: number; messages: number };
}

export interface SharingOps {
  /** Shared folders, owned by no user: "Shared/<name>" in IMAP; shared with users like any mailbox. */
  createSharedFolder(name: string, quotaBytes?: number | null): Promise<SharedFolderView>;
  listSharedFolders(): Promise<SharedFolderView[]>;
  deleteSharedFolder(name: string): Promise<void>;
  /** `rights`: letters of lrswipkxtea (c, d accepted), optionally "+"/"-" prefixed; "" removes the entry. */
  share(owner: string, mailbox: string, grantee: string, rights: string): Promise<AclView>;
  unshare(owner: string, mailbox: string, grantee: string): Promise<AclView>;
  acl(owner: string, mailbox: string): Promise<AclView>;
  /** The mailbox's \Seen mode; with `mode`, sets it first. */
  seenMode(owner: string, mailbox: string, mode?: SeenMode): Promise<SeenModeView>;
}

/** "Shared/<name>" (any case) names a shared folder's account; anything else an address. */
function ownerAddress(owner: string): string {
  const o = owner.trim();
  return /^shared\//i.test(o) ? `${SHARED_FOLDER_PREFIX}${o.slice(7).toLowerCase()}` : o;
}

function folderView(f: SharedFolder): SharedFolderView {
  return { name: `Shared/${f.name}`, quotaBytes: f.quotaBytes, usage: f.usage };
}

export class StoreSharing implements SharingOps {
  constructor(private readonly store: Store) {}

  async createSharedFolder(name: string, quotaBytes: number | null = null): Promise<SharedFolderView> {
    const bare = name.replace(/^shared\//i, "");
    try {
      if (!(await this.store.sharedFolders.create(bare, quotaBytes))) {
        throw new ConflictError(`shared folder ${bare.toLowerCase()} exists`);
      }
    } catch (err) {
      if (err instanceof SharedFolderNameError) throw new InvalidInputError(err.message);
      throw err;
    }
    const created = (await this.store.sharedFolders.list()).find((f) => f.name === bare.toLowerCase());
    return folderView(created!);
  }

  async listSharedFolders(): Promise<SharedFolderView[]> {
    return (await this.store.sharedFolders.list()).map(folderView);
  }

  async deleteSharedFolder(name: string): Promise<void> {
    if (!(await this.store.sharedFolders.delete(name.replace(/^shared\//i, "")))) {
      throw new NotFoundError(`no shared folder ${name}`);
    }
  }

  async #mailbox(owner: string, name: string): Promise<{ id: number; owner: string; name: string }> {
    const account = await this.store.accounts.byAddress(ownerAddress(owner));
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
    const named = grantee.trim().toLowerCase().replace(/^-/, "");
    if (named === m.owner || named.startsWith(SHARED_FOLDER_PREFIX)) {
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

  async seenMode(owner: string, mailbox: string, mode?: SeenMode): Promise<SeenModeView> {
    const m = await this.#mailbox(owner, mailbox);
    if (mode !== undefined) await this.store.privateSeen.setShared(m.id, mode === "shared");
    const shared = await this.store.privateSeen.isShared(m.id);
    return { owner: m.owner, mailbox: m.name, seen: shared ? "shared" : "per-user" };
  }
}

type Call = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** SharingOps over the admin API (mailctl with AEROGRAM_ADMIN_URL). */
export class HttpSharing implements SharingOps {
  constructor(private readonly call: Call) {}

  createSharedFolder(name: string, quotaBytes: number | null = null): Promise<SharedFolderView> {
    return this.call("POST", "/shared-folders", { name, quotaBytes });
  }

  async listSharedFolders(): Promise<SharedFolderView[]> {
    return (await this.call<{ folders: SharedFolderView[] }>("GET", "/shared-folders")).folders;
  }

  async deleteSharedFolder(name: string): Promise<void> {
    await this.call("DELETE", `/shared-folders/${encodeURIComponent(name.replace(/^shared\//i, ""))}`);
  }

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

  seenMode(owner: string, mailbox: string, mode?: SeenMode): Promise<SeenModeView> {
    const path = `/accounts/${encodeURIComponent(owner)}/seen/${encodeURIComponent(mailbox)}`;
    return mode === undefined ? this.call("GET", path) : this.call("PUT", path, { seen: mode });
  }
}

const rightsBody = z.strictObject({ rights: z.string().max(64) });
const seenBody = z.strictObject({ seen: z.enum(["per-user", "shared"]) });
const folderBody = z.strictObject({
  name: z.string().min(1).max(80),
  quotaBytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).nullable().optional(),
});

type Route = (req: IncomingMessage, params: string[]) => Promise<[number, unknown]>;

/** The admin API's routes for sharing (admin-api.ts adds them to its table). */
export function sharingRoutes(ops: SharingOps, parseBody: <T>(schema: z.ZodType<T>, body: unknown) => T) {
  const seg = "([^/]+)";
  const routes: [string, RegExp, Route][] = [
    ["GET", /^\/shared-folders$/, async () => [200, { folders: await ops.listSharedFolders() }]],
    [
      "POST",
      /^\/shared-folders$/,
      async (req) => {
        const body = parseBody(folderBody, await readJsonBody(req));
        return [201, await ops.createSharedFolder(body.name, body.quotaBytes ?? null)];
      },
    ],
    [
      "DELETE",
      new RegExp(`^/shared-folders/${seg}$`),
      async (_, [name]) => {
        await ops.deleteSharedFolder(name!);
        return [204, null];
      },
    ],
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
    [
      "GET",
      new RegExp(`^/accounts/${seg}/seen/${seg}$`),
      async (_, [o, m]) => [200, await ops.seenMode(o!, m!)],
    ],
    [
      "PUT",
      new RegExp(`^/accounts/${seg}/seen/${seg}$`),
      async (req, [o, m]) => {
        const body = parseBody(seenBody, await readJsonBody(req));
        return [200, await ops.seenMode(o!, m!, body.seen)];
      },
    ],
  ];
  return routes;
}

export const SHARING_USAGE = `  shared create <name> [--quota <bytes>]              a shared folder, owned by no user ("Shared/<name>" in IMAP)
  shared list | shared delete <name>                  shared folders with usage; delete one with its mail
  share <owner> <mailbox> <grantee> <rights>          share a mailbox (rights lrswipkxtea, +/- to add/remove; grantee an address, anyone or authenticated)
  unshare <owner> <mailbox> <grantee>                 stop sharing a mailbox with the grantee
  acl <owner> <mailbox>                               who a mailbox is shared with
  seen <owner> <mailbox> [per-user|shared]            grantees' \\Seen: each their own (default) or the owner's, common to all`;

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
  quotaBytes: number | null = null,
): Promise<{ output: string; code: number } | null> {
  const folderLine = (f: SharedFolderView) =>
    `${f.name}  ${f.quotaBytes === null ? "" : `quota: ${f.quotaBytes} bytes  `}${f.usage.messages} messages, ${f.usage.bytes} bytes`;
  switch (command) {
    case "shared": {
      const sub = need(0, "create, list or delete");
      if (sub === "create")
        return {
          output: `created ${folderLine(await ops.createSharedFolder(need(1, "a name"), quotaBytes))}`,
          code: 0,
        };
      if (sub === "list")
        return {
          output: (await ops.listSharedFolders()).map(folderLine).join("\n") || "(no shared folders)",
          code: 0,
        };
      if (sub === "delete") {
        await ops.deleteSharedFolder(need(1, "a name"));
        return { output: `deleted shared folder ${args[1]}`, code: 0 };
      }
      return null;
    }
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
    case "seen": {
      const mode = args[2];
      if (mode !== undefined && mode !== "per-user" && mode !== "shared")
        return { output: `seen mode is per-user or shared (got ${JSON.stringify(mode)})`, code: 2 };
      const view = await ops.seenMode(need(0, "an owner address"), need(1, "a mailbox"), mode);
      return { output: `${view.owner} ${view.mailbox}  \\Seen: ${view.seen}`, code: 0 };
    }
    default:
      return null;
  }
}
