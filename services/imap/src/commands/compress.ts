// COMPRESS (RFC 4978 §3): only DEFLATE; OK uncompressed, then both directions
// compressed (session.ts startCompression, compress.ts).
import type { CompressCommand } from "@aerogram/imap-protocol";
import type { Session } from "../session.ts";
import { type CommandResult, ok } from "./result.ts";

export async function compress(session: Session, command: CompressCommand): Promise<CommandResult> {
  if (command.mechanism !== "DEFLATE")
    return { condition: "BAD", text: `Unknown compression ${command.mechanism}` };
  // RFC 4978 §3: a second COMPRESS is refused with COMPRESSIONACTIVE
  if (session.compressed)
    return { condition: "NO", text: "Compression already active", code: "COMPRESSIONACTIVE" };
  session.afterTagged = async () => {
    session.startCompression();
  };
  return ok("DEFLATE active");
}
