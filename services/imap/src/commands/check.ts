// CHECK (RFC 3501 §6.4.1; removed in RFC 9051, kept as NOOP for rev1 clients):
// every change is already durable in Postgres.
import { type CommandResult, ok } from "./result.ts";

export async function check(): Promise<CommandResult> {
  return ok("CHECK completed");
}
