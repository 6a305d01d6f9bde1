// CLOSE (RFC 9051 §6.4.1): silently expunges \Deleted messages (read-write
// only), then returns to the authenticated state. UNSELECT (RFC 3691) does not expunge.
import { publishChange } from "../publish.ts";
import { selectedHas } from "../rights.ts";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function close(session: Session): Promise<CommandResult> {
  const view = session.selected;
  // Without the expunge right CLOSE just closes (RFC 4314 §4).
  if (view && !view.readOnly && session.account && selectedHas(view, "e")) {
    const { uids, modseq } = await session.ctx.runtime.store.messages.expunge(view.id, view.allUids(), {
      durable: session.ctx.limits.durableFlagWrites,
      onlyDeleted: true,
    });
    if (uids.length) publishChange(session, view.id, "expunge", modseq, uids);
  }
  session.select(null);
  return ok("CLOSE completed");
}

export async function unselect(session: Session): Promise<CommandResult> {
  session.select(null);
  return ok("UNSELECT completed");
}
