/**
 * mboxrd (the "From " quoting variant: every line matching /^>*From / gets
 * one more ">" when written and loses one when read, so any content survives;
 * see the qmail mbox(5) page and RFC 4155). Messages are written with LF line
 * endings, as Unix mailbox readers expect, each after a "From " line that
 * carries the INTERNALDATE (asctime, UTC) and followed by one empty line.
 * Stored messages use CRLF (libs/mime crlf.ts); CRLF → LF on the way out and
 * LF → CRLF on the way in give back the same bytes (a message not ending in
 * a line break gets one: mbox cannot say otherwise).
 */
import type { Readable } from "node:stream";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** asctime(3) of a date in UTC: "Mon Dec  7 17:00:37 2026". */
export function asctime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** The date of a "From " line (asctime at its end), or undefined. */
export function fromLineDate(line: string): Date | undefined {
  const m = /(\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?: [A-Z]{3,4}| [+-]\d{4})? (\d{4})\s*$/.exec(line);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1]!);
  if (month < 0) return undefined;
  return new Date(Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
}

const FROM_QUOTED = /^>*From /;

/** One message as mboxrd: the "From " line, the quoted LF content, the empty line after it. */
export function mboxEntry(message: Buffer, internalDate: Date, sender = "MAILER-DAEMON"): Buffer {
  const lf = message.toString("latin1").replace(/\r\n/g, "\n");
  const body = lf
    .split("\n")
    .map((l) => (FROM_QUOTED.test(l) ? `>${l}` : l))
    .join("\n");
  const ended = body.endsWith("\n") ? body : `${body}\n`;
  return Buffer.from(`From ${sender} ${asctime(internalDate)}\n${ended}\n`, "latin1");
}

export type MboxItem =
  | { ok: true; index: number; message: Buffer; internalDate: Date | undefined }
  | { ok: false; index: number; reason: string };

/**
 * Messages of an mbox stream, one at a time (never the whole file in
 * memory). A message larger than maxBytes is reported and skipped; a last
 * message without the empty line that ends every entry is reported as
 * truncated and skipped (a cut-off file must not import half a message).
 */
export async function* readMbox(source: Readable, maxBytes: number): AsyncGenerator<MboxItem> {
  let pending = "";
  let index = -1;
  let lines: string[] = [];
  let bytes = 0;
  let tooLarge = false;
  let date: Date | undefined;
  let sawAny = false;

  const lastLineEmpty = () => lines[lines.length - 1] === "";
  const finish = (complete: boolean): MboxItem | undefined => {
    if (index < 0) return undefined;
    if (!complete) return { ok: false, index, reason: "truncated (the file ends inside it)" };
    if (tooLarge) return { ok: false, index, reason: `larger than ${maxBytes} octets` };
    // The entry's own empty line is the last line before the next "From ".
    const content = lines.slice(0, -1).map((l) => (/^>+From /.test(l) ? l.slice(1) : l));
    return { ok: true, index, message: Buffer.from(`${content.join("\n")}\n`, "latin1"), internalDate: date };
  };

  const line = function* (l: string): Generator<MboxItem> {
    if (l.startsWith("From ") && (index < 0 || lastLineEmpty())) {
      const done = finish(true);
      if (done) yield done;
      index++;
      lines = [];
      bytes = 0;
      tooLarge = false;
      date = fromLineDate(l);
      return;
    }
    if (index < 0) {
      if (l === "") return;
      throw new Error('not an mbox file: it does not start with a "From " line');
    }
    bytes += l.length + 1;
    if (bytes > maxBytes) tooLarge = true;
    // Past the limit only the last line is kept (to find the entry's end).
    if (tooLarge) lines = [l];
    else lines.push(l);
  };

  for await (const chunk of source) {
    sawAny = true;
    pending += (chunk as Buffer).toString("latin1");
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      yield* line(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf("\n");
    }
  }
  // A last line without its line break: the file was cut.
  const complete = pending === "";
  if (!complete) yield* line(pending);
  if (!sawAny) return;
  // The last entry is whole only when the file ends with its empty line.
  const last = finish(complete && lastLineEmpty());
  if (last) yield last;
}
