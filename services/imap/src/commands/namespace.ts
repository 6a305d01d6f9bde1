// NAMESPACE (RFC 9051 §6.3.10, RFC 2342): one personal namespace, "/" delimiter.
import { atom, untagged } from "@aerogram/imap-protocol";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function namespace(session: Session): Promise<CommandResult> {
  await session.send(untagged([atom("NAMESPACE"), [["", "/"]], null, null]));
  return ok("NAMESPACE completed");
}
