/**
 * IMAP system flags are stored as a bit set (messages.flags); keywords as text[].
 * \Recent is not stored per message: it is derived from mailboxes.recent_uid.
 */
export const SYSTEM_FLAGS = {
  "\\Seen": 1,
  "\\Answered": 2,
  "\\Flagged": 4,
  "\\Deleted": 8,
  "\\Draft": 16,
} as const;

export type SystemFlag = keyof typeof SYSTEM_FLAGS;
export const SEEN = SYSTEM_FLAGS["\\Seen"];
export const DELETED = SYSTEM_FLAGS["\\Deleted"];

const byLowerName = new Map(Object.entries(SYSTEM_FLAGS).map(([k, v]) => [k.toLowerCase(), v]));

/** Splits IMAP flag names into the system-flag bit set and the keywords (flag names are case-insensitive). */
export function encodeFlags(names: readonly string[]): { bits: number; keywords: string[] } {
  let bits = 0;
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const lower = name.toLowerCase();
    const bit = byLowerName.get(lower);
    if (bit !== undefined) bits |= bit;
    else if (!lower.startsWith("\\") && !seen.has(lower)) {
      seen.add(lower);
      keywords.push(name);
    }
  }
  return { bits, keywords };
}

/** The IMAP flag names of a bit set plus keywords, system flags first. */
export function decodeFlags(bits: number, keywords: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const [name, bit] of Object.entries(SYSTEM_FLAGS)) if (bits & bit) out.push(name);
  out.push(...keywords);
  return out;
}
