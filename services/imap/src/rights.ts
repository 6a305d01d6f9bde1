/**
 * What each command needs (RFC 4314 §4) and how a missing right is answered:
 * tagged NO [NOPERM] (RFC 5530 §3), or, for a mailbox the caller has no right on
 * at all, as if it did not exist (namespaces.ts). Own mailboxes have every right,
 * so none of these costs anything for them.
 */
import { responseCodes } from "@aerogram/imap-protocol";
import { ALL_RIGHTS, type Mailbox, parseRightsText } from "@aerogram/store";
import { bad, no } from "./errors.ts";
import { accessOf, selectedRights } from "./namespaces.ts";
import type { SelectedMailbox } from "./selected-mailbox.ts";
import type { Session } from "./session.ts";

/** NO [NOPERM] unless the caller has `right` on the mailbox. */
export function requireRight(session: Session, mailbox: Mailbox, right: string, action: string): void {
  if (!accessOf(session, mailbox).rights.includes(right)) {
    throw no(`Permission denied: ${action} needs the "${right}" right`, responseCodes.noPerm());
  }
}

export function hasRight(session: Session, mailbox: Mailbox, right: string): boolean {
  return accessOf(session, mailbox).rights.includes(right);
}

/** The same for the selected mailbox, with the rights SELECT found. */
export function requireSelectedRight(view: SelectedMailbox, right: string, action: string): void {
  if (!selectedRights(view).includes(right)) {
    throw no(`Permission denied: ${action} needs the "${right}" right`, responseCodes.noPerm());
  }
}

export function selectedHas(view: SelectedMailbox, right: string): boolean {
  return selectedRights(view).includes(right);
}

/**
 * SELECT opens read-write only when the caller may change something in the
 * mailbox: one of "s", "w", "t", "e" (RFC 4314 §4); otherwise it is read-only,
 * like EXAMINE.
 */
export function writableWith(rights: string): boolean {
  return /[swte]/.test(rights);
}

/** The flags a STORE/APPEND may set with these rights: \Seen needs "s", \Deleted "t", the rest "w" (RFC 4314 §4). */
function flagAllowed(rights: string, flag: string): boolean {
  const f = flag.toLowerCase();
  if (f === "\\seen") return rights.includes("s");
  if (f === "\\deleted") return rights.includes("t");
  return rights.includes("w");
}

/** PERMANENTFLAGS for the selected mailbox: only the flags the caller may change. */
export function permittedFlags(view: SelectedMailbox, flags: readonly string[]): string[] {
  const rights = selectedRights(view);
  if (rights === ALL_RIGHTS) return [...flags];
  return flags.filter((f) => (f === "\\*" ? rights.includes("w") : flagAllowed(rights, f)));
}

/**
 * The flags of a STORE the caller may change. RFC 4314 §4: a STORE SHOULD NOT
 * fail when the caller may change at least one of its flags (the others are
 * ignored); when it may change none, NO [NOPERM]. A replacing STORE (FLAGS ...)
 * changes only the flags the caller has rights for and leaves the others as
 * they are (`replacePreserves`), as Dovecot's acl plugin does: a NO would break
 * clients that replace flags to mark a message read, and clearing flags one may
 * not touch is exactly what the rights forbid.
 */
export function storableFlags(
  view: SelectedMailbox,
  operation: "set" | "add" | "remove",
  flags: readonly string[],
): string[] {
  const rights = selectedRights(view);
  if (rights === ALL_RIGHTS) return [...flags];
  if (operation === "set") {
    if (!/[stw]/.test(rights)) {
      throw no('Permission denied: changing flags needs the "s", "t" or "w" right', responseCodes.noPerm());
    }
    return flags.filter((f) => flagAllowed(rights, f));
  }
  const allowed = flags.filter((f) => flagAllowed(rights, f));
  if (allowed.length === 0 && flags.length > 0) {
    throw no("Permission denied: no right to change these flags", responseCodes.noPerm());
  }
  return allowed;
}

/**
 * What a replacing STORE must leave as it is for lack of rights (RFC 4314 §4):
 * \Seen without "s", \Deleted without "t", the other system flags and the
 * keywords without "w". Undefined when nothing (the caller has all three).
 */
export function replacePreserves(view: SelectedMailbox): { bits: number; keywords: boolean } | undefined {
  const rights = selectedRights(view);
  const s = rights.includes("s");
  const t = rights.includes("t");
  const w = rights.includes("w");
  if (s && t && w) return undefined;
  // Bits as libs/store flags.ts: 1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft.
  return { bits: (s ? 0 : 1) | (t ? 0 : 8) | (w ? 0 : 2 | 4 | 16), keywords: !w };
}

/** Whether the caller may change \Seen in the selected mailbox (its own, where \Seen is per user). */
export function maySetSeen(view: SelectedMailbox): boolean {
  return selectedRights(view).includes("s");
}

/** APPEND's flags: those the caller may not set are dropped (RFC 4314 §4: APPEND needs "i"; flags their rights). */
export function appendableFlags(session: Session, mailbox: Mailbox, flags: readonly string[]): string[] {
  const rights = accessOf(session, mailbox).rights;
  if (rights === ALL_RIGHTS) return [...flags];
  return flags.filter((f) => flagAllowed(rights, f));
}

/**
 * A SETACL rights string (libs/store parseRightsText: "+"/"-", obsolete "c"/"d");
 * an unknown letter is BAD (RFC 4314 §3.1: an unrecognised right MUST fail the
 * command with BAD).
 */
export function parseModRights(text: string): { mode: "replace" | "add" | "remove"; rights: string } {
  const parsed = parseRightsText(text);
  if ("unknown" in parsed) {
    throw bad(`Unknown right "${parsed.unknown}" (known: ${ALL_RIGHTS}, and the obsolete c and d)`);
  }
  return parsed;
}
