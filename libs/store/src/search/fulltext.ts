/**
 * The SQL of a full-text condition (SEARCH BODY/TEXT, RFC 9051 §6.4.4: a
 * case-insensitive substring) over the search rows. The texts are stored
 * lower-cased and the needle is lower-cased here the same way (JavaScript's
 * locale-independent toLowerCase), so the test is a plain LIKE '%needle%',
 * which the trigram GIN indexes of migration 010 answer. As an IN over the
 * mailbox's matches it plans as one hashed subquery, also under OR/NOT.
 */

/** LIKE's own characters in a needle, escaped with the default escape character (backslash). */
export function likePattern(needle: string): string {
  return `%${needle.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** A condition over messages' `uid` ($1 is the mailbox id); `param` binds a value and returns its placeholder. */
export function fullTextSql(
  scope: "body" | "text" | "header",
  needle: string,
  param: (value: unknown) => string,
): string {
  const p = param(likePattern(needle.replaceAll("\0", " ")));
  const where =
    scope === "body"
      ? `s.body LIKE ${p}`
      : scope === "header"
        ? `s.header LIKE ${p}`
        : `(s.body LIKE ${p} OR s.header LIKE ${p})`;
  return `uid IN (SELECT s.uid FROM message_search s WHERE s.mailbox_id = $1 AND s.complete AND ${where})`;
}
