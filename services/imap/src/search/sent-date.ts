/**
 * The sent date of a message as the sender wrote it: the calendar day of the
 * Date header in its own zone (RFC 9051 §6.4.4 SENT* keys), read from the start
 * of the stored ENVELOPE (whose first field is the Date text). Falls back to the
 * UTC day of the parsed header date, then of the internal date.
 */
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DATE_TEXT = /^\("(?:[A-Za-z]+,\s*)?(\d{1,2})\s+([A-Za-z]{3})[A-Za-z]*\s+(\d{2,4})/;

function iso(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

export function sentDay(envelopeStart: string | null, headerDate: Date | null, internalDate: Date): string {
  const match = envelopeStart ? DATE_TEXT.exec(envelopeStart) : null;
  if (match) {
    const month = MONTHS.indexOf(match[2]!.toLowerCase()) + 1;
    let year = Number(match[3]);
    if (match[3]!.length === 2) year += year < 50 ? 2000 : 1900; // RFC 5322 §4.3 obs-year
    const day = Number(match[1]);
    if (month > 0 && day >= 1 && day <= 31) return iso(year, month, day);
  }
  const d = headerDate ?? internalDate;
  return iso(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
}
