// Octet classes of the IMAP formal syntax (RFC 9051 §9, RFC 3501 §9).

const ATOM = 1;
const ASTRING = 2;
const LIST = 4;
const TAG = 8;

const classes = new Uint8Array(256);
for (let byte = 0x21; byte < 0x7f; byte++) {
  const char = String.fromCharCode(byte);
  // atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
  const isAtomSpecial = '(){%*"\\]'.includes(char);
  let bits = 0;
  if (!isAtomSpecial) bits |= ATOM | ASTRING | LIST;
  if (char === "]") bits |= ASTRING | LIST; // ASTRING-CHAR = ATOM-CHAR / resp-specials
  if (char === "%" || char === "*") bits |= LIST; // list-char adds list-wildcards
  if (bits & ASTRING && char !== "+") bits |= TAG; // tag = 1*<any ASTRING-CHAR except "+">
  classes[byte] = bits;
}

export function isAtomChar(byte: number): boolean {
  return (classes[byte]! & ATOM) !== 0;
}

export function isAstringChar(byte: number): boolean {
  return (classes[byte]! & ASTRING) !== 0;
}

export function isListChar(byte: number): boolean {
  return (classes[byte]! & LIST) !== 0;
}

export function isTagChar(byte: number): boolean {
  return (classes[byte]! & TAG) !== 0;
}

/** Non-empty, and every character a Latin-1 code unit that `allowed` accepts. */
function nonEmptyOf(text: string, allowed: (code: number) => boolean): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff || !allowed(code)) return false;
  }
  return true;
}

export function isValidTag(tag: string): boolean {
  return nonEmptyOf(tag, isTagChar);
}

export function isValidAtom(text: string): boolean {
  return nonEmptyOf(text, isAtomChar);
}
