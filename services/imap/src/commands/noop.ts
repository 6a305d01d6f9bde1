// NOOP (RFC 9051 §6.1.2): does nothing itself; the session's post-command sync
// reports any mailbox changes.
import type { CommandResult } from "./result.ts";
import { ok } from "./result.ts";

export async function noop(): Promise<CommandResult> {
  return ok("NOOP completed");
}
