// STARTTLS (RFC 9051 §6.2.1): OK, then the TLS handshake; pipelined plaintext is dropped.
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function starttls(session: Session): Promise<CommandResult> {
  if (!session.ctx.tls) return { condition: "BAD", text: "STARTTLS is not available" };
  if (session.secure) return { condition: "BAD", text: "TLS is already active" };
  session.afterTagged = async () => {
    try {
      await session.startTls();
    } catch {
      session.close();
    }
  };
  return ok("Begin TLS negotiation now");
}
