// ENABLE (RFC 5161, RFC 9051 §6.3.1): IMAP4rev2, CONDSTORE, QRESYNC (implies
// CONDSTORE, RFC 7162 §3.2.3), UTF8=ACCEPT (RFC 6855).
import { atom, type EnableCommand, untagged } from "@aerogram/imap-protocol";
import { ENABLEABLE } from "../capabilities.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function enable(session: Session, command: EnableCommand): Promise<CommandResult> {
  const newly: string[] = [];
  for (const cap of command.capabilities) {
    if (!ENABLEABLE.has(cap) || session.enabled.has(cap)) continue;
    session.enabled.add(cap);
    newly.push(cap === "IMAP4REV2" ? "IMAP4rev2" : cap);
    if (cap === "QRESYNC" && !session.enabled.has("CONDSTORE")) session.enabled.add("CONDSTORE");
  }
  await session.send(untagged([atom("ENABLED"), ...newly.map(atom)]));
  return ok("ENABLE completed");
}
