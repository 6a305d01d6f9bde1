/**
 * Which kind of mail client a session is (seed lessons 2 and 10): the access
 * patterns that matter differ per family, so commands and bytes are counted per
 * family in the metrics. The label is bounded: these seven values, never the
 * raw ID strings.
 *
 * About half the clients send ID (RFC 2971) and are recognised by its name/os/
 * vendor fields. Outlook sends no ID; it is recognised by its tags, which are
 * short random lowercase-alphanumeric strings ("9gkq", "x2fz") rather than a
 * counter ("1", "A001", "a0001"), so two such tags that are not a sequence, on a
 * session that sent no ID by its second command, mean "outlook".
 */
export const CLIENT_FAMILIES = [
  "thunderbird",
  "apple",
  "outlook",
  "android",
  "ios",
  "mutt",
  "other",
] as const;
export type ClientFamily = (typeof CLIENT_FAMILIES)[number];

/** The family named by an ID command's parameters (field names are case-insensitive). */
export function familyFromId(parameters: Iterable<readonly [string, string | null]>): ClientFamily {
  const field = (name: string) => {
    for (const [k, v] of parameters) if (k.toLowerCase() === name) return v ?? "";
    return "";
  };
  const name = field("name");
  const all = `${name} ${field("vendor")} ${field("os")} ${field("version")}`.toLowerCase();
  if (/thunderbird|betterbird|seamonkey|mozilla/.test(all)) return "thunderbird";
  if (/mutt/.test(all)) return "mutt";
  if (/outlook|microsoft/.test(all)) return "outlook";
  if (/k-?9|android|fairemail|aquamail|bluemail|gmail/.test(all)) return "android";
  // iOS before Apple: "iPhone Mail" comes from Apple too.
  if (/\bios\b|iphone|ipad/.test(all)) return "ios";
  if (/mac ?os|os x|apple|mail\.app/.test(all)) return "apple";
  return "other";
}

const OUTLOOK_TAG = /^[a-z0-9]{4}$/;

/**
 * True for a tag shaped like Outlook's: four lowercase letters or digits with at
 * least one letter, and not a prefix-and-counter ("a001", "ab12").
 */
export function outlookLikeTag(tag: string): boolean {
  return OUTLOOK_TAG.test(tag) && /[a-z]/.test(tag) && !/^[a-z]+\d+$/.test(tag);
}

/**
 * Per-session recognition: ID wins whenever it comes; without it, the first two
 * tags decide between "outlook" and "other".
 */
export class ClientRecognizer {
  family: ClientFamily = "other";
  #fromId = false;
  #tags: string[] = [];

  onId(parameters: Iterable<readonly [string, string | null]> | null): void {
    if (!parameters) return;
    this.family = familyFromId(parameters);
    this.#fromId = true;
  }

  onTag(tag: string): void {
    if (this.#fromId || this.#tags.length >= 2) return;
    this.#tags.push(tag);
    if (this.#tags.length === 2) {
      const [a, b] = this.#tags as [string, string];
      this.family = a !== b && outlookLikeTag(a) && outlookLikeTag(b) ? "outlook" : "other";
    }
  }
}
