// NAMESPACE (RFC 9051 §6.3.10, RFC 2342): the personal namespace and the other
// users' ("Other Users/<address>/…") and the shared folders ("Shared/<folder>/…";
// namespaces.ts), "/" delimiter.
import { atom, untagged } from "@aerogram/imap-protocol";
import { OTHER_USERS, SHARED } from "../namespaces.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function namespace(session: Session): Promise<CommandResult> {
  await session.send(
    untagged([atom("NAMESPACE"), [["", "/"]], [[`${OTHER_USERS}/`, "/"]], [[`${SHARED}/`, "/"]]]),
  );
  return ok("NAMESPACE completed");
}
