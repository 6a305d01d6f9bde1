/**
 * RFC 5260 dates: parse an RFC 5322 date-time (§3.3, with the obsolete zone
 * names of §4.3), move it to a zone, and extract a date part (§4.2).
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const OBS_ZONES: Record<string, number> = {
  ut: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};

export const DATE_PARTS = [
  "year",
  "month",
  "day",
  "date",
  "julian",
  "hour",
  "minute",
  "second",
  "time",
  "iso8601",
  "std11",
  "zone",
  "weekday",
] as const;

/** An instant and the zone (minutes east of UTC) it is shown in. */
export interface ZonedDate {
  utcMs: number;
  offsetMinutes: number;
}

/** "+hhmm" / "-hhmm" → minutes, or undefined. */
export function parseZone(z: string): number | undefined {
  const m = /^([+-])(\d\d)(\d\d)$/.exec(z.trim());
  if (!m) return undefined;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  if (Number(m[3]) > 59) return undefined;
  return m[1] === "-" ? -minutes : minutes;
}

/** RFC 5322 date-time (comments and day names tolerated); undefined when unparseable. */
export function parseRfc5322Date(text: string): ZonedDate | undefined {
  const s = text
    .replace(/\([^()]*\)/g, " ")
    .replace(/^\s*[A-Za-z]{3},?\s*/, "")
    .trim();
  const m =
    /^(\d{1,2})\s+([A-Za-z]{3})\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Za-z]{1,3})?\s*$/.exec(
      s,
    );
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]!.toLowerCase());
  if (month < 0) return undefined;
  let year = Number(m[3]);
  // RFC 5322 §4.3: two-digit years 00-49 are 2000-2049, 50-99 are 1950-1999; three digits add 1900.
  if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3]!.length === 3) year += 1900;
  const day = Number(m[1]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] ? Number(m[6]) : 0;
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  let offset = 0;
  const zone = m[7];
  if (zone) {
    const z = parseZone(zone);
    if (z !== undefined) offset = z;
    else offset = OBS_ZONES[zone.toLowerCase()] ?? 0;
  }
  const utcMs = Date.UTC(year, month, day, hour, minute, second) - offset * 60_000;
  return { utcMs, offsetMinutes: offset };
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

function zoneText(offset: number): string {
  const a = Math.abs(offset);
  return `${offset < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
}

/** The machine's zone at that instant (the default of RFC 5260 §4.1 "local time zone"). */
export function localOffsetMinutes(utcMs: number): number {
  return -new Date(utcMs).getTimezoneOffset();
}

/** A date part of `d` shown in its zone. */
export function datePart(d: ZonedDate, part: string): string | undefined {
  const t = new Date(d.utcMs + d.offsetMinutes * 60_000);
  const Y = t.getUTCFullYear();
  const M = t.getUTCMonth() + 1;
  const D = t.getUTCDate();
  const h = t.getUTCHours();
  const mi = t.getUTCMinutes();
  const s = t.getUTCSeconds();
  switch (part.toLowerCase()) {
    case "year":
      return pad(Y, 4);
    case "month":
      return pad(M);
    case "day":
      return pad(D);
    case "date":
      return `${pad(Y, 4)}-${pad(M)}-${pad(D)}`;
    case "julian":
      // Modified Julian Day: days since 1858-11-17.
      return String(Math.floor((Date.UTC(Y, M - 1, D) - Date.UTC(1858, 10, 17)) / 86_400_000));
    case "hour":
      return pad(h);
    case "minute":
      return pad(mi);
    case "second":
      return pad(s);
    case "time":
      return `${pad(h)}:${pad(mi)}:${pad(s)}`;
    case "iso8601": {
      const z =
        d.offsetMinutes === 0
          ? "Z"
          : `${zoneText(d.offsetMinutes).slice(0, 3)}:${zoneText(d.offsetMinutes).slice(3)}`;
      return `${pad(Y, 4)}-${pad(M)}-${pad(D)}T${pad(h)}:${pad(mi)}:${pad(s)}${z}`;
    }
    case "std11": {
      const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
      const mons = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
      return `${days[t.getUTCDay()]}, ${pad(D)} ${mons[M - 1]} ${pad(Y, 4)} ${pad(h)}:${pad(mi)}:${pad(s)} ${zoneText(d.offsetMinutes)}`;
    }
    case "zone":
      return zoneText(d.offsetMinutes);
    case "weekday":
      return String(t.getUTCDay());
    default:
      return undefined;
  }
}
