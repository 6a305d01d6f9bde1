// ID (RFC 2971): the server's identity; the client's is logged.

import type { IdCommand } from "@aerogram/imap-protocol";
import { atom, untagged } from "@aerogram/imap-protocol";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function id(session: Session, command: IdCommand): Promise<CommandResult> {
  session.client.onId(command.parameters);
  if (command.parameters)
    session.log.debug({ clientId: Object.fromEntries(command.parameters) }, "client ID");
  await session.send(untagged([atom("ID"), ["name", "Aerogram", "vendor", "Aerogram", "support-url", null]]));
  return ok("ID completed");
}
