// IMAP dates: `date-time` of APPEND and INTERNALDATE ("dd-Mon-yyyy hh:mm:ss +zzzz")
// and SEARCH's `date` ("d-Mon-yyyy"), RFC 9051 §9.

import type { ImapDateTime } from "./ast.ts";
import type { SearchDate } from "./search-key.ts";

export const MONTH_NAMES = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

const DATE_TEXT = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/;
// date-day-fixed = (SP DIGIT) / 2DIGIT
const DATE_TIME = /^( \d|\d{2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

function monthNumber(name: string): number | null {
  const lower = name.toLowerCase();
  const index = MONTH_NAMES.findIndex((m) => m.toLowerCase() === lower);
  return index < 0 ? null : index + 1;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Parses "d-Mon-yyyy"; null when malformed or not a real calendar date. */
export function parseSearchDate(text: string): SearchDate | null {
  const match = DATE_TEXT.exec(text);
  if (!match) return null;
  const day = Number(match[1]);
  const month = monthNumber(match[2]!);
  const year = Number(match[3]);
  if (month === null || day < 1 || day > daysInMonth(year, month)) return null;
  return { year, month, day };
}

/** Parses "dd-Mon-yyyy hh:mm:ss +zzzz" (the quotes already removed); null when invalid. */
export function parseDateTime(text: string): ImapDateTime | null {
  const match = DATE_TIME.exec(text);
  if (!match) return null;
  const day = Number(match[1]!.trim());
  const month = monthNumber(match[2]!);
  const year = Number(match[3]);
  const hours = Number(match[4]);
  const minutes = Number(match[5]);
  const seconds = Number(match[6]);
  const zoneHours = Number(match[8]);
  const zoneMins = Number(match[9]);
  if (month === null || day < 1 || day > daysInMonth(year, month)) return null;
  // RFC 9051 allows a leap second (60) in time; it is folded into the next minute.
  if (hours > 23 || minutes > 59 || seconds > 60 || zoneMins > 59) return null;
  const zoneMinutes = (match[7] === "-" ? -1 : 1) * (zoneHours * 60 + zoneMins);
  const local = Date.UTC(year, month - 1, day, hours, minutes, seconds);
  return { date: new Date(local - zoneMinutes * 60_000), zoneMinutes };
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Formats an instant as date-time text (without the surrounding quotes) in the given
 * zone, e.g. "17-Jul-1996 02:44:25 -0700". The day is space-padded (date-day-fixed).
 */
export function formatDateTime(date: Date, zoneMinutes = 0): string {
  const local = new Date(date.getTime() + zoneMinutes * 60_000);
  const day = local.getUTCDate();
  const sign = zoneMinutes < 0 ? "-" : "+";
  const zone = Math.abs(zoneMinutes);
  return (
    `${day < 10 ? ` ${day}` : day}-${MONTH_NAMES[local.getUTCMonth()]}-${String(local.getUTCFullYear()).padStart(4, "0")} ` +
    `${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}:${pad2(local.getUTCSeconds())} ` +
    `${sign}${pad2(Math.floor(zone / 60))}${pad2(zone % 60)}`
  );
}
