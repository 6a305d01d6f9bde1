// CHECK (RFC 3501 §6.4.1; removed in RFC 9051, kept as NOOP for rev1 clients):
// every change is already committed in Postgres (message data durable; flag changes
// and expunges within ~0.6 s by default, like Dovecot's mail_fsync=optimized, or at
// once with IMAP_DURABLE_FLAG_WRITES=1).
import { type CommandResult, ok } from "./result.ts";

export async function check(): Promise<CommandResult> {
  return ok("CHECK completed");
}
