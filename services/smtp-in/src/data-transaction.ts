/**
 * The frame of one DATA transaction, the same for SMTP-in and submission:
 * receive the message into a spool, run the service's handling over it, and
 * whatever happens, answer once and remove the spool.
 */
import { type SpooledMessage, spoolMessage } from "./message-spool.ts";
import { localError } from "./smtp-errors.ts";

export type DataCallback = (err?: Error | null, message?: string) => void;

export interface DataTransactionHooks {
  /** The client went away mid-DATA: nothing was stored (answered with a local error). */
  aborted(err: unknown): void;
  /** handle threw: nothing was accepted, the client retries (answered with a local error). */
  failed(err: unknown): void;
}

/** handle answers through cb itself; it runs only over a message received in full. */
export async function runDataTransaction(
  stream: AsyncIterable<Buffer>,
  memoryBytes: number,
  cb: DataCallback,
  hooks: DataTransactionHooks,
  handle: (spooled: SpooledMessage) => Promise<void>,
): Promise<void> {
  let spooled: SpooledMessage;
  try {
    spooled = await spoolMessage(stream, { memoryBytes });
  } catch (err) {
    hooks.aborted(err);
    return cb(localError());
  }
  try {
    await handle(spooled);
  } catch (err) {
    hooks.failed(err);
    cb(localError());
  } finally {
    await spooled.dispose();
  }
}
