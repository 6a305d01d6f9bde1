/**
 * Namespaces (RFC 2342) and mailbox resolution across accounts.
 *
 *   personal      "INBOX", "Work/2026"          the caller's own mailboxes (prefix "")
 *   other users   "Other Users/<address>/<name>" another account's mailbox the caller
 *                                                 has rights on (RFC 4314 ACL)
 *   shared        "Shared/<folder>[/<name>]"     a shared folder, owned by no user: a
 *                                                 login-less account "#shared/<folder>"
 *                                                 (libs/store acl/shared-folders.ts) whose
 *                                                 INBOX is "Shared/<folder>" itself
 *
 * Every command that names a mailbox resolves it here (through
 * mailbox-lookup.ts' requireMailbox, or resolveMailbox directly): the answer is
 * the mailbox row renamed to what the client sees, and the session remembers
 * whose it is and what the caller may do with it (rights.ts asks), so a command
 * checks its rights without another query and publishes its change event on the
 * owner's subject (publish.ts), which is what every session of every account
 * that selected the mailbox listens to (live-updates.ts): one publish however
 * many accounts the mailbox is shared with.
 */
import {
  ALL_RIGHTS,
  type Mailbox,
  normalizeMailboxName,
  SHARED_FOLDER_PREFIX,
  type SharedMailbox,
} from "@aerogram/store";
import type { SelectedMailbox } from "./selected-mailbox.ts";
import type { Session } from "./session.ts";

/** The other users' namespace prefix without its delimiter (RFC 2342 §5; Dovecot's usual name). */
export const OTHER_USERS = "Other Users";
const OTHER_PREFIX = `${OTHER_USERS}/`;
/** The shared namespace's prefix without its delimiter (RFC 2342 §5: "public" folders). */
export const SHARED = "Shared";
const SHARED_PREFIX = `${SHARED}/`;

export type ParsedName =
  | { kind: "personal"; name: string }
  /** "Other Users/<owner>/<name>": a mailbox of another account. */
  | { kind: "other"; owner: string; name: string }
  /** "Other Users" or "Other Users/<owner>": a level of the tree, never a mailbox. */
  | { kind: "other-tree" };

export function parseMailboxName(name: string): ParsedName {
  if (name === SHARED) return { kind: "other-tree" };
  if (name.startsWith(SHARED_PREFIX)) {
    const rest = name.slice(SHARED_PREFIX.length);
    const slash = rest.indexOf("/");
    const folder = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
    if (folder === "" || slash === rest.length - 1) return { kind: "other-tree" };
    const inner = slash < 0 ? "INBOX" : normalizeMailboxName(rest.slice(slash + 1));
    return { kind: "other", owner: `${SHARED_FOLDER_PREFIX}${folder}`, name: inner };
  }
  if (name !== OTHER_USERS && !name.startsWith(OTHER_PREFIX)) {
    return { kind: "personal", name: normalizeMailboxName(name) };
  }
  const rest = name.slice(OTHER_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash <= 0 || slash === rest.length - 1) return { kind: "other-tree" };
  return {
    kind: "other",
    owner: rest.slice(0, slash).toLowerCase(),
    name: normalizeMailboxName(rest.slice(slash + 1)),
  };
}

/** True for names in the other users' namespace (not the caller's own). */
export function isOtherUsersName(name: string): boolean {
  return parseMailboxName(name).kind !== "personal";
}

/** What the client calls another account's mailbox (or a shared folder's). */
export function otherUsersName(ownerAddress: string, name: string): string {
  if (ownerAddress.startsWith(SHARED_FOLDER_PREFIX)) {
    const folder = `${SHARED_PREFIX}${ownerAddress.slice(SHARED_FOLDER_PREFIX.length)}`;
    return name === "INBOX" ? folder : `${folder}/${name}`;
  }
  return `${OTHER_PREFIX}${ownerAddress}/${name}`;
}

/** A mailbox the session resolved: whose it is and the caller's rights on it. */
export interface MailboxAccess {
  readonly owner: number;
  readonly rights: string;
}

/** Per session: mailboxes of other accounts it resolved (id → access). Own mailboxes are never stored. */
const resolved = new WeakMap<Session, Map<number, MailboxAccess>>();
/** Per selected view of another account's mailbox: the access at SELECT time. */
const selectedAccess = new WeakMap<SelectedMailbox, MailboxAccess>();

function remember(session: Session, mailbox: SharedMailbox): void {
  let map = resolved.get(session);
  if (!map) {
    map = new Map();
    resolved.set(session, map);
  }
  map.set(mailbox.id, { owner: mailbox.accountId, rights: mailbox.rights });
}

function asVisible(mailbox: SharedMailbox, subscribed: boolean): Mailbox {
  return { ...mailbox, name: otherUsersName(mailbox.ownerAddress, mailbox.name), subscribed };
}

/**
 * The mailbox a client's name means, or undefined when there is none the caller
 * may know of: another account's mailbox on which the caller has no right at all
 * is answered as non-existent, so ACLs don't reveal other users' folder names
 * (RFC 4314 §6).
 */
export async function resolveMailbox(session: Session, name: string): Promise<Mailbox | undefined> {
  const account = session.account;
  if (!account) return undefined;
  const parsed = parseMailboxName(name);
  const mailboxes = session.ctx.runtime.store.mailboxes;
  if (parsed.kind === "personal") return mailboxes.byName(account.id, parsed.name);
  // A personal mailbox made before the namespaces existed ("Shared", "Shared/x")
  // stays reachable by its name: it wins over the namespace (new ones can't be
  // created there: CREATE routes such names to other-users.ts).
  const [own, shared] = await Promise.all([
    mailboxes.byName(account.id, name),
    parsed.kind === "other"
      ? session.ctx.runtime.store.acl.resolve(account.id, parsed.owner, parsed.name)
      : Promise.resolve(undefined),
  ]);
  if (own) return own;
  if (!shared || shared.rights === "") return undefined;
  remember(session, shared);
  return asVisible(shared, false);
}

/**
 * Every mailbox LIST/LSUB may show: the caller's own and, renamed into the
 * other users' namespace, those of others it has the lookup right on (RFC
 * 4314 §4: LIST needs "l"). Their subscription is the caller's (a subscribed
 * name, kept like any name without a mailbox of the caller's own).
 */
export async function listableMailboxes(session: Session): Promise<Mailbox[]> {
  const account = session.account;
  if (!account) return [];
  const store = session.ctx.runtime.store;
  const { own, shared } = await store.acl.listable(account.id);
  const visible = shared.filter((m) => m.rights.includes("l"));
  if (visible.length === 0) return own;
  const subscribed = new Set(await session.ctx.orphanSubscriptions.list(account.id));
  for (const m of visible) remember(session, m);
  return [
    ...own,
    ...visible.map((m) => asVisible(m, subscribed.has(otherUsersName(m.ownerAddress, m.name)))),
  ];
}

/** The caller's access to a mailbox it resolved: everything on its own. */
export function accessOf(session: Session, mailbox: Pick<Mailbox, "id" | "accountId">): MailboxAccess {
  const own = session.account?.id;
  if (mailbox.accountId === own) return { owner: own, rights: ALL_RIGHTS };
  return resolved.get(session)?.get(mailbox.id) ?? { owner: mailbox.accountId, rights: "" };
}

/** Records the access a SELECT/EXAMINE found (the view keeps it until the next SELECT). */
export function noteSelected(session: Session, view: SelectedMailbox, mailbox: Mailbox): void {
  const access = accessOf(session, mailbox);
  if (access.owner !== session.account?.id) selectedAccess.set(view, access);
}

/** The caller's rights on the selected mailbox (everything on its own). */
export function selectedRights(view: SelectedMailbox): string {
  return selectedAccess.get(view)?.rights ?? ALL_RIGHTS;
}

/** Whose events a session with this view listens to: the mailbox owner's. */
export function eventAccountOf(session: Session, view: SelectedMailbox): number | null {
  return selectedAccess.get(view)?.owner ?? session.account?.id ?? null;
}

/** The account whose subject a change to this mailbox is published on: its owner. */
export function ownerOfMailbox(session: Session, mailboxId: number): number | null {
  const view = session.selected;
  if (view?.id === mailboxId) {
    const access = selectedAccess.get(view);
    if (access) return access.owner;
  }
  return resolved.get(session)?.get(mailboxId)?.owner ?? session.account?.id ?? null;
}
