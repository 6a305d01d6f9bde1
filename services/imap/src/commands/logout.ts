// LOGOUT (RFC 9051 §6.1.3): BYE, then the tagged OK, then the connection closes.
import { untaggedStatus } from "@aerogram/imap-protocol";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function logout(session: Session): Promise<CommandResult> {
  await session.send([untaggedStatus("BYE", "Logging out")]);
  session.select(null);
  session.state = "logout";
  session.afterTagged = async () => session.close();
  return ok("LOGOUT completed");
}
