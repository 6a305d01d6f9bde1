/**
 * The frame of one DATA transaction, the same for SMTP-in and submission:
 * receive the message into a spool, run the service's handling over it, and
 * whatever happens, answer once and remove the spool.
 */
import type { Logger } from "@aerogram/observability";
import { type SpooledMessage, spoolMessage } from "./message-spool.ts";
import { localError } from "./smtp-errors.ts";

export type DataCallback = (err?: Error | null, message?: string) => void;

export interface DataTransactionReport {
  log: Logger;
  session: string;
  /** Counts the outcomes this frame decides: "aborted" (the client went away mid-DATA, nothing stored), "failed" (handle threw). */
  count(result: "aborted" | "failed"): void;
  /** The log line when handle threw (nothing was accepted; the client retries after the local error). */
  failedMessage: string;
}

/** handle answers through cb itself; it runs only over a message received in full. */
export async function runDataTransaction(
  stream: AsyncIterable<Buffer>,
  memoryBytes: number,
  cb: DataCallback,
  report: DataTransactionReport,
  handle: (spooled: SpooledMessage) => Promise<void>,
): Promise<void> {
  let spooled: SpooledMessage;
  try {
    spooled = await spoolMessage(stream, { memoryBytes });
  } catch (err) {
    report.count("aborted");
    report.log.info({ err, session: report.session }, "message not received in full");
    return cb(localError());
  }
  try {
    await handle(spooled);
  } catch (err) {
    report.count("failed");
    report.log.warn({ err, session: report.session }, report.failedMessage);
    cb(localError());
  } finally {
    await spooled.dispose();
  }
}
