/**
 * RETR and TOP's response (RFC 1939 §7): "+OK", the (cut) message
 * byte-stuffed in CRLF form, ".". A message of up to WHOLE_READ_MAX_OCTETS is
 * read whole and answered in one write; a larger one streams. A failure
 * before the first byte answers -ERR; after it, the response can't be
 * repaired, so the connection closes (applying nothing).
 */
import type { Readable } from "node:stream";
import { BlobNotFoundError } from "@aerogram/blobstore";
import type { MaildropMessage } from "../maildrop.ts";
import { readWholeBlob, WHOLE_READ_MAX_OCTETS } from "../message-read.ts";
import { DotStuffer } from "../protocol/dot-stuffing.ts";
import { err, ok } from "../protocol/responses.ts";
import { TopCutter } from "../protocol/top.ts";
import type { Pop3Session } from "../session.ts";
import { ConnectionClosedError } from "./connection.ts";

export async function sendMessage(
  session: Pop3Session,
  m: MaildropMessage,
  topLines?: number,
): Promise<void> {
  const { blobs, blobPath } = session.deps;
  let whole: Buffer | undefined;
  let body: Readable | undefined;
  try {
    if (m.storedOctets <= WHOLE_READ_MAX_OCTETS) {
      whole = await readWholeBlob(blobs, m.blobKey, m.storedOctets, blobPath);
    }
    if (!whole) body = await blobs.get(m.blobKey);
  } catch (error) {
    if (error instanceof BlobNotFoundError) {
      session.log.error({ blobKey: m.blobKey }, "message blob missing");
      session.reply(err("message content unavailable", "SYS/PERM"));
      return;
    }
    throw error;
  }
  session.reply(ok(topLines === undefined ? `${m.octets} octets` : "top of message follows"));
  const stuffer = new DotStuffer();
  const cutter = topLines === undefined ? undefined : new TopCutter(topLines);
  try {
    if (whole) {
      const parts: Buffer[] = [];
      // A RETR size equal to the stored size means no bare LF and a final
      // CRLF (sizes count the CRs RETR adds): only dot-lines need stuffing.
      if (!cutter && m.octets === whole.length) stuffer.pushCrlfMessageInto(whole, parts);
      else stuffer.pushInto(cutter ? cutter.push(whole) : whole, parts);
      parts.push(stuffer.end());
      await session.write(...parts);
      return;
    }
    for await (const chunk of body as AsyncIterable<Buffer>) {
      await session.write(stuffer.push(cutter ? cutter.push(chunk) : chunk));
      if (cutter?.done) break;
    }
    await session.write(stuffer.end());
  } catch (error) {
    if (!(error instanceof ConnectionClosedError)) {
      session.log.error({ err: error, blobKey: m.blobKey }, "reading a message failed mid-response");
    }
    session.destroy();
    throw new ConnectionClosedError();
  } finally {
    body?.destroy();
  }
}
