// LIST (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258), CHILDREN (RFC 3348),
// SPECIAL-USE (RFC 6154) and LIST-STATUS (RFC 5819); LSUB (RFC 3501 §6.3.9)
// and XLIST (the pre-RFC 6154 Gmail extension old clients use).
import {
  atom,
  type ImapValue,
  type ListCommand,
  type LsubCommand,
  mailboxNameValue,
  type ResponseChunk,
  untagged,
} from "@aerogram/imap-protocol";
import type { Mailbox } from "@aerogram/store";
import { combineReference, impliedParents, listPatternToRegExp } from "../list-matcher.ts";
import { accountId, noteHeads } from "../mailbox-lookup.ts";
import { listableMailboxes } from "../namespaces.ts";
import { hasRight } from "../rights.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";
import { statusResponse } from "./status.ts";

interface Entry {
  name: string;
  mailbox: Mailbox | null;
  subscribed: boolean;
  hasChildren: boolean;
  /** Subscribed descendants' names. */
  subscribedDescendants: string[];
}

/**
 * Every name LIST may report: the mailboxes, names implied by deeper ones, and
 * (when `orphans` is given) subscribed names that are not mailboxes.
 */
function entries(mailboxes: readonly Mailbox[], orphans: readonly string[] = []): Entry[] {
  const byName = new Map(mailboxes.map((m) => [m.name, m]));
  const orphanSet = new Set(orphans.filter((n) => !byName.has(n)));
  const real = [...byName.keys(), ...orphanSet];
  const names = [...new Set([...real, ...impliedParents(real)])];
  const subscribedNames = [...mailboxes.filter((m) => m.subscribed).map((m) => m.name), ...orphanSet];
  const result = names.map((name) => ({
    name,
    mailbox: byName.get(name) ?? null,
    subscribed: byName.get(name)?.subscribed ?? orphanSet.has(name),
    hasChildren: names.some((other) => other.startsWith(`${name}/`)),
    subscribedDescendants: subscribedNames.filter((n) => n.startsWith(`${name}/`)),
  }));
  return result.sort((a, b) => (a.name === "INBOX" ? -1 : b.name === "INBOX" ? 1 : a.name < b.name ? -1 : 1));
}

function line(
  session: Session,
  command: string,
  attributes: string[],
  name: string,
  extra: ImapValue[] = [],
) {
  return untagged(
    [atom(command), attributes.map(atom), "/", mailboxNameValue(name, session.utf8), ...extra],
    session.writerOptions,
  );
}

export async function list(session: Session, command: ListCommand): Promise<CommandResult> {
  if (command.patterns.length === 1 && command.patterns[0] === "" && !command.extended) {
    // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and root.
    await session.send(line(session, "LIST", ["\\Noselect"], ""));
    return ok("LIST completed");
  }
  const selectSubscribedOption = command.selectionOptions.includes("SUBSCRIBED");
  if (
    command.selectionOptions.includes("RECURSIVEMATCH") &&
    !selectSubscribedOption &&
    !command.selectionOptions.includes("SPECIAL-USE")
  ) {
    // RFC 5258 §3: RECURSIVEMATCH needs another selection option (REMOTE alone doesn't count).
    return { condition: "BAD", text: "RECURSIVEMATCH needs a selection option" };
  }
  const account = accountId(session);
  const mailboxes = await listableMailboxes(session);
  noteHeads(session, mailboxes);
  // Subscribed names without a mailbox are listed only when subscriptions are selected (RFC 5258 §3.1).
  const orphans = selectSubscribedOption ? await session.ctx.orphanSubscriptions.list(account) : [];
  const patterns = command.patterns.map((p) => listPatternToRegExp(combineReference(command.reference, p)));
  const selectSubscribed = command.selectionOptions.includes("SUBSCRIBED");
  const selectSpecialUse = command.selectionOptions.includes("SPECIAL-USE");
  const recursive = command.selectionOptions.includes("RECURSIVEMATCH");
  const returns = command.returnOptions;
  const out: ResponseChunk[] = [];
  for (const entry of entries(mailboxes, orphans)) {
    if (!patterns.some((p) => p.test(entry.name))) continue;
    const mailbox = entry.mailbox;
    const subscribed = entry.subscribed;
    const extra: ImapValue[] = [];
    if (selectSubscribed && !subscribed) {
      // CHILDINFO: a descendant matches the selection but not the patterns (RFC 5258 §3.5).
      const hidden = entry.subscribedDescendants.some((d) => !patterns.some((p) => p.test(d)));
      if (!(recursive && hidden)) continue;
      extra.push([atom("CHILDINFO"), ["SUBSCRIBED"]]);
    }
    if (selectSpecialUse && !mailbox?.specialUse) continue;
    const attributes: string[] = [];
    if (!mailbox) attributes.push(command.extended ? "\\NonExistent" : "\\Noselect");
    attributes.push(entry.hasChildren ? "\\HasChildren" : "\\HasNoChildren");
    if ((selectSubscribed || returns.subscribed) && subscribed) attributes.push("\\Subscribed");
    if (mailbox?.specialUse) attributes.push(mailbox.specialUse);
    out.push(...line(session, "LIST", attributes, entry.name, extra));
    // LIST-STATUS of a shared mailbox needs the read right, like STATUS (RFC 4314 §4).
    if (returns.status && mailbox && hasRight(session, mailbox, "r")) {
      out.push(...(await statusResponse(session, mailbox, returns.status)));
    }
  }
  await session.send(out);
  return ok("LIST completed");
}

export async function lsub(session: Session, command: LsubCommand): Promise<CommandResult> {
  const isXlist = command.name === "XLIST";
  if (command.pattern === "") {
    await session.send(line(session, command.name, ["\\Noselect"], ""));
    return ok(`${command.name} completed`);
  }
  const account = accountId(session);
  const mailboxes = await listableMailboxes(session);
  noteHeads(session, mailboxes);
  const orphans = isXlist ? [] : await session.ctx.orphanSubscriptions.list(account);
  const pattern = listPatternToRegExp(combineReference(command.reference, command.pattern));
  const out: ResponseChunk[] = [];
  for (const entry of entries(mailboxes, orphans)) {
    if (!pattern.test(entry.name)) continue;
    const mailbox = entry.mailbox;
    if (isXlist) {
      const attributes: string[] = [];
      if (!mailbox) attributes.push("\\Noselect");
      attributes.push(entry.hasChildren ? "\\HasChildren" : "\\HasNoChildren");
      if (entry.name === "INBOX") attributes.push("\\Inbox");
      if (mailbox?.specialUse) attributes.push(mailbox.specialUse);
      out.push(...line(session, "XLIST", attributes, entry.name));
      continue;
    }
    if (entry.subscribed) out.push(...line(session, "LSUB", [], entry.name));
    else if (entry.subscribedDescendants.length && command.pattern.endsWith("%")) {
      out.push(...line(session, "LSUB", ["\\Noselect"], entry.name));
    }
  }
  await session.send(out);
  return ok(`${command.name} completed`);
}
