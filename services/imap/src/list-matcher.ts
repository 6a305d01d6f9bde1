/**
 * LIST/LSUB pattern matching (RFC 9051 §6.3.9): "*" matches any characters,
 * "%" any but the hierarchy delimiter. INBOX matches case-insensitively.
 */
export function listPatternToRegExp(pattern: string): RegExp {
  let source = "";
  for (const ch of pattern) {
    if (ch === "*") source += ".*";
    else if (ch === "%") source += "[^/]*";
    else source += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  // "INBOX" in any case names the inbox (and "inbox/..." its inferiors).
  const inboxPrefix = /^inbox(?=\/|$)/i.test(pattern) ? "(?:INBOX)" : null;
  if (inboxPrefix) source = inboxPrefix + source.slice(5);
  return new RegExp(`^${source}$`, "s");
}

/** Canonical pattern from LIST's reference and mailbox arguments. */
export function combineReference(reference: string, pattern: string): string {
  if (reference === "" || pattern.startsWith("/")) return pattern;
  return reference.endsWith("/") ? reference + pattern : `${reference}/${pattern}`;
}

/** Names implied by deeper names that don't exist themselves ("a" for "a/b"). */
export function impliedParents(names: Iterable<string>): Set<string> {
  const all = new Set(names);
  const implied = new Set<string>();
  for (const name of all) {
    const levels = name.split("/");
    for (let i = 1; i < levels.length; i++) {
      const parent = levels.slice(0, i).join("/");
      if (!all.has(parent)) implied.add(parent);
    }
  }
  return implied;
}
