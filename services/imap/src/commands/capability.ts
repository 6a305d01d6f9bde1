// CAPABILITY (RFC 9051 §6.1.1)
import { atom, untagged } from "@aerogram/imap-protocol";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function capability(session: Session): Promise<CommandResult> {
  await session.send(untagged([atom("CAPABILITY"), ...session.capabilities().map(atom)]));
  return ok("CAPABILITY completed");
}
