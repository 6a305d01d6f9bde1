// CHECK (RFC 3501 §6.4.1; removed in RFC 9051, kept as NOOP for rev1 clients):
// every change is already committed in Postgres (durable; with IMAP_DURABLE_FLAG_WRITES=0
// flag changes and expunges only within ~0.6 s, like Dovecot's mail_fsync=optimized).
import { type CommandResult, ok } from "./result.ts";

export async function check(): Promise<CommandResult> {
  return ok("CHECK completed");
}
