// IDLE (RFC 2177, RFC 9051 §6.3.13): "+ idling", then untagged updates as they
// happen — pushed by the account's event subscription within milliseconds, and
// by the server's poll tick when the bus is down — until the client sends DONE.
import { continuation, type SimpleCommand } from "@aerogram/imap-protocol";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function idle(session: Session, command: SimpleCommand): Promise<CommandResult> {
  // A hibernated IDLE woken up (hibernate.ts) resumes here: its "+ idling" was sent.
  if (!session.resumingIdle) {
    await session.send([continuation("idling")]);
    await session.out.endResponse();
  }
  session.resumingIdle = false;
  session.idling = true;
  session.idlingSince = Date.now();
  session.idleTag = command.tag;
  session.pushUpdates();
  const line = await session.readLine();
  session.idling = false;
  session.idleTag = null;
  await session.settleUpdates();
  if (line === null) return ok("IDLE ended");
  if (line.toString("latin1").trim().toUpperCase() !== "DONE") {
    return { condition: "BAD", text: "Expected DONE" };
  }
  return ok("IDLE terminated");
}
