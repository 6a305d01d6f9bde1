/**
 * The SQL of a full-text condition (SEARCH BODY/TEXT, RFC 9051 §6.4.4: a
 * case-insensitive substring) over the search rows. The texts are stored
 * lower-cased and the needle is lower-cased here the same way (JavaScript's
 * locale-independent toLowerCase), so the test is a plain LIKE '%needle%'.
 *
 * A body needle made only of word characters (letters, marks, digits) is
 * answered through the words instead (migration 080): it occurs in a body
 * exactly when it occurs inside one of the body's words (maximal runs of word
 * characters, `bodyWords`), so the vocabulary's words containing it (a trigram
 * LIKE over short strings) and the rows holding one of those (GIN over
 * `body_word_ids`, exact) are the answer, and no body is read. Rows without
 * words (written before 080, or with an overlong word) take the LIKE. Other
 * needles ("café au", "a.b") are narrowed by the words their runs of word
 * characters must be, then checked with the LIKE (migration 096, fullTextSql).
 * As an IN over the mailbox's matches it plans as one hashed subquery, also
 * under OR/NOT.
 */

import type { Queryable } from "../db.ts";

/** LIKE's own characters in a needle, escaped with the default escape character (backslash). */
export function likePattern(needle: string): string {
  return `%${needle.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const ONLY_WORD_CHARACTERS = /^[\p{L}\p{M}\p{N}]+$/u;
/** A longer word can't be a GIN key (about 2,700 bytes); a body with one is searched by LIKE. */
export const MAX_INDEXED_WORD_CHARS = 100;

/** The distinct words of a lower-cased body text, or null when one is too long to index. */
export function bodyWords(body: string): string[] | null {
  const words = new Set<string>();
  for (const [word] of body.matchAll(WORD)) {
    if (word.length > MAX_INDEXED_WORD_CHARS) return null;
    words.add(word);
  }
  return [...words];
}

/**
 * The words a body containing `needle` (lower-cased) must have, one
 * condition per maximal run of word characters in it: a run with a non-word
 * character on both sides in the needle is a whole word of the body; the
 * needle's first run, when a non-word character follows it, ends a word
 * (`%run`); its last run, when one precedes it, starts a word (`run%`). These
 * are necessary, not sufficient ("a.b" needs a word ending in "a" and one
 * starting with "b", not adjacent), so the rows they find are rechecked with
 * the LIKE. A needle with no word character has no condition.
 */
export function needleWords(needle: string): { exact: string[]; patterns: string[] } {
  const exact: string[] = [];
  const patterns: string[] = [];
  for (const m of needle.matchAll(WORD)) {
    const start = m.index;
    const end = start + m[0].length;
    const open = start === 0;
    const close = end === needle.length;
    if (open && close) patterns.push(`%${m[0]}%`);
    else if (open) patterns.push(`%${m[0]}`);
    else if (close) patterns.push(`${m[0]}%`);
    else exact.push(m[0]);
  }
  return { exact: [...new Set(exact)], patterns: [...new Set(patterns)] };
}

/**
 * A vocabulary pattern matching more words than this is not used to narrow:
 * a GIN `&&` over thousands of keys ANDed with another was measured at 20-40 s
 * on 10,000 rows ("ka", "an nerkan": every key's posting list, and each
 * candidate checked against every key), where reading the mailbox's bodies
 * with the LIKE took 0.7 s.
 */
export const MAX_VOCABULARY_MATCHES = 200;

/** The vocabulary patterns (LIKE) a full-text needle is answered with: see fullTextSql. */
export function vocabularyPatterns(scope: "body" | "text" | "header", needle: string): string[] {
  if (scope === "header") return [];
  const clean = needle.replaceAll("\0", " ").toLowerCase();
  if (ONLY_WORD_CHARACTERS.test(clean)) return [likePattern(clean)];
  const { exact, patterns } = needleWords(clean);
  // a whole word is a pattern without wildcards (word characters need no escaping)
  return [...exact, ...patterns];
}

/**
 * The ids of the vocabulary's words matching each pattern (one statement), or
 * null for a pattern matching more than MAX_VOCABULARY_MATCHES (too many to
 * narrow). Read before the search's statement.
 */
export async function resolveVocabulary(
  db: Queryable,
  patterns: readonly string[],
): Promise<Map<string, readonly number[] | null>> {
  const out = new Map<string, readonly number[] | null>();
  const unique = [...new Set(patterns)];
  if (unique.length === 0) return out;
  const { rows } = await db.query<{ pattern: string; words: number[] | null }>(
    `SELECT p.pattern, ARRAY(SELECT v.id FROM search_vocabulary v WHERE v.word LIKE p.pattern LIMIT $2) AS words
       FROM unnest($1::text[]) AS p(pattern)`,
    [unique, MAX_VOCABULARY_MATCHES + 1],
  );
  for (const r of rows)
    out.set(r.pattern, r.words && r.words.length <= MAX_VOCABULARY_MATCHES ? r.words : null);
  return out;
}

/**
 * A condition over messages' `uid` ($1 is the mailbox id); `param` binds a
 * value and returns its placeholder. Each way of matching is its own branch
 * of a UNION ALL, planned on its own: written as one OR, the planner costed
 * the GIN scans of an unknown word list above a sequential scan and read
 * every row (622 ms at 9,000 rows against 3.6 ms for the branches).
 *
 * The body is answered through its words (migration 096 dropped the trigram
 * index over the full bodies, half of the indexing's PostgreSQL CPU), with
 * `vocabulary` (resolveVocabulary of vocabularyPatterns) giving the words of
 * each pattern: a needle of word characters is in the rows holding one of
 * the words containing it (GIN over `body_word_ids`, exact: no body is read);
 * any other needle is in rows holding the words its runs must be
 * (needleWords), rechecked with the LIKE over their body. A pattern with too
 * many words (null, or missing) doesn't narrow; with nothing left to narrow,
 * the LIKE reads the mailbox's bodies. A row without words (an overlong word,
 * or written before migration 080) is searched by its LIKE through a partial
 * trigram index holding only such rows. Headers (short) keep their trigram
 * index.
 */
export function fullTextSql(
  scope: "body" | "text" | "header",
  needle: string,
  param: (value: unknown) => string,
  vocabulary: ReadonlyMap<string, readonly number[] | null>,
): string {
  const clean = needle.replaceAll("\0", " ").toLowerCase();
  const p = param(likePattern(clean));
  const unworded = `s.body_word_ids IS NULL AND s.body LIKE ${p}`;
  // the ids behind a sub-select: seeing them, the planner filtered every row with them (a seq scan
  // comparing each row's words with each listed word: 4.6 s at 10,000 rows against 0.5 s through the GIN)
  const list = (ids: readonly number[]) => `ARRAY(SELECT unnest(${param(ids)}::integer[]))`;
  const body = (): string[] => {
    if (ONLY_WORD_CHARACTERS.test(clean)) {
      const ids = vocabulary.get(likePattern(clean));
      return ids ? [`s.body_word_ids && ${list(ids)}`, unworded] : [`s.body LIKE ${p}`];
    }
    const { exact, patterns } = needleWords(clean);
    const whole = exact.map((word) => vocabulary.get(word));
    const partial = patterns.map((pattern) => vocabulary.get(pattern));
    // a word no message has: only rows without words can match (decided before binding anything,
    // since a bound parameter the statement doesn't use has no type)
    if ([...whole, ...partial].some((ids) => ids?.length === 0)) return [unworded];
    const conditions: string[] = [];
    const wholeIds = whole.flatMap((ids) => ids ?? []);
    if (wholeIds.length) conditions.push(`s.body_word_ids @> ${list(wholeIds)}`);
    for (const ids of partial) if (ids) conditions.push(`s.body_word_ids && ${list(ids)}`);
    // nothing narrows (" ", "...", "a b"): every row is a candidate
    return conditions.length
      ? [`${conditions.join(" AND ")} AND s.body LIKE ${p}`, unworded]
      : [`s.body LIKE ${p}`];
  };
  const header = [`s.header LIKE ${p}`];
  const branches = scope === "body" ? body() : scope === "header" ? header : [...body(), ...header];
  return `uid IN (${branches
    .map((b) => `SELECT s.uid FROM message_search s WHERE s.mailbox_id = $1 AND s.complete AND ${b}`)
    .join(" UNION ALL ")})`;
}
