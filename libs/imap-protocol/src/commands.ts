// The command table, in the spirit of Dovecot's imap-commands.c: for each command, the
// session states it is valid in and how it interacts with message sequence numbers.
//
// RFC 9051 §7.5.1 (and RFC 3501 §7.4.1): an untagged EXPUNGE must not be sent while
// responding to FETCH, STORE or SEARCH — nor to COPY/MOVE, which also name messages by
// sequence number — because the client would renumber in the middle of a command that
// uses the old numbers. The UID variants are different commands and may carry EXPUNGE.
// RFC 9051 §5.5: a command that uses sequence numbers must not run concurrently with
// one that may renumber (i.e. send EXPUNGE), so a pipelining gateway waits for the
// earlier one.

import type { Command } from "./ast.ts";

export type SessionState = "not-authenticated" | "authenticated" | "selected";

export interface CommandSpec {
  /** Upper-cased name; UID commands as "UID FETCH". */
  readonly name: string;
  /** States in which the command is valid (RFC 9051 §3, §6). */
  readonly states: readonly SessionState[];
  /** Arguments or replies use message sequence numbers: no untagged EXPUNGE during it. */
  readonly usesSequenceNumbers: boolean;
  /** May renumber messages (may send untagged EXPUNGE/VANISHED). */
  readonly breaksSequenceNumbers: boolean;
}

const ANY: readonly SessionState[] = ["not-authenticated", "authenticated", "selected"];
const NOT_AUTHENTICATED: readonly SessionState[] = ["not-authenticated"];
const AUTHENTICATED: readonly SessionState[] = ["authenticated", "selected"];
const SELECTED: readonly SessionState[] = ["selected"];

function spec(
  name: string,
  states: readonly SessionState[],
  flags: { uses?: boolean; breaks?: boolean } = {},
): CommandSpec {
  return {
    name,
    states,
    usesSequenceNumbers: flags.uses ?? false,
    breaksSequenceNumbers: flags.breaks ?? false,
  };
}

export const COMMAND_TABLE: ReadonlyMap<string, CommandSpec> = new Map(
  [
    // Any state (RFC 9051 §6.1; ID is RFC 2971).
    spec("CAPABILITY", ANY),
    spec("NOOP", ANY, { breaks: true }),
    spec("LOGOUT", ANY),
    spec("ID", ANY),
    // Not authenticated (§6.2).
    spec("STARTTLS", NOT_AUTHENTICATED),
    spec("AUTHENTICATE", NOT_AUTHENTICATED),
    spec("LOGIN", NOT_AUTHENTICATED),
    // Authenticated (§6.3). ENABLE is only valid before a mailbox is selected
    // (RFC 5161 §3.1, RFC 9051 §6.3.1).
    spec("ENABLE", ["authenticated"]),
    spec("SELECT", AUTHENTICATED, { breaks: true }),
    spec("EXAMINE", AUTHENTICATED, { breaks: true }),
    spec("CREATE", AUTHENTICATED),
    spec("DELETE", AUTHENTICATED),
    spec("RENAME", AUTHENTICATED),
    spec("SUBSCRIBE", AUTHENTICATED),
    spec("UNSUBSCRIBE", AUTHENTICATED),
    spec("LIST", AUTHENTICATED),
    spec("LSUB", AUTHENTICATED),
    spec("XLIST", AUTHENTICATED),
    spec("NAMESPACE", AUTHENTICATED),
    spec("STATUS", AUTHENTICATED),
    spec("APPEND", AUTHENTICATED),
    spec("IDLE", AUTHENTICATED, { breaks: true }),
    spec("GETQUOTA", AUTHENTICATED),
    spec("GETQUOTAROOT", AUTHENTICATED),
    // ACL (RFC 4314 §3).
    spec("SETACL", AUTHENTICATED),
    spec("DELETEACL", AUTHENTICATED),
    spec("GETACL", AUTHENTICATED),
    spec("LISTRIGHTS", AUTHENTICATED),
    spec("MYRIGHTS", AUTHENTICATED),
    // Selected (§6.4).
    spec("CHECK", SELECTED, { breaks: true }),
    spec("CLOSE", SELECTED, { breaks: true }),
    spec("UNSELECT", SELECTED, { breaks: true }),
    spec("EXPUNGE", SELECTED, { breaks: true }),
    spec("SEARCH", SELECTED, { uses: true }),
    spec("FETCH", SELECTED, { uses: true }),
    spec("STORE", SELECTED, { uses: true }),
    spec("COPY", SELECTED, { uses: true }),
    // MOVE reports the moved messages as expunged (RFC 6851 §3.3), so it renumbers too.
    spec("MOVE", SELECTED, { uses: true, breaks: true }),
    spec("UID SEARCH", SELECTED, { breaks: true }),
    spec("UID FETCH", SELECTED, { breaks: true }),
    spec("UID STORE", SELECTED, { breaks: true }),
    spec("UID COPY", SELECTED, { breaks: true }),
    spec("UID MOVE", SELECTED, { breaks: true }),
    spec("UID EXPUNGE", SELECTED, { breaks: true }),
    // SORT and THREAD answer with sequence numbers like SEARCH (RFC 5256).
    spec("SORT", SELECTED, { uses: true }),
    spec("THREAD", SELECTED, { uses: true }),
    spec("UID SORT", SELECTED, { breaks: true }),
    spec("UID THREAD", SELECTED, { breaks: true }),
    // RFC 4978 §3: valid once authenticated.
    spec("COMPRESS", AUTHENTICATED),
  ].map((entry) => [entry.name, entry]),
);

/** "UID FETCH" for a UID command, else the command's name. */
export function commandTableName(command: Pick<Command, "name" | "uid">): string {
  return command.uid ? `UID ${command.name}` : command.name;
}

export function commandSpec(command: Pick<Command, "name" | "uid">): CommandSpec {
  const found = COMMAND_TABLE.get(commandTableName(command));
  if (!found) throw new Error(`no command table entry for ${commandTableName(command)}`);
  return found;
}

export function isValidInState(command: Pick<Command, "name" | "uid">, state: SessionState): boolean {
  return commandSpec(command).states.includes(state);
}

/**
 * Whether pending untagged EXPUNGE (or VANISHED) responses — changes made by other
 * sessions — may be sent while this command runs (RFC 9051 §7.5.1). A command's own
 * expunges (EXPUNGE, MOVE) are part of its result and always sent.
 */
export function allowsExpungeResponses(command: Pick<Command, "name" | "uid">): boolean {
  return !commandSpec(command).usesSequenceNumbers;
}
