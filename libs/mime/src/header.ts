// Header block parser (RFC 5322 §2.2, §3.2.2 unfolding) over a byte string
// (Buffer#toString("latin1")).
//
// Malformed input is normal input here; the rules follow Dovecot's
// message-header-parser.c (SKIP_INITIAL_LWSP | DROP_CR), the parser whose
// output the IMAP answers are compared against:
//  * a line that starts with SP/HTAB continues the previous field;
//  * a line without ":" is a field with an empty name whose value is the whole
//    line; so is a line whose name would be longer than 1000 bytes;
//  * the name is the text before the first ":", trailing LWSP trimmed;
//  * the value starts after all LWSP following the ":" (if the value is only
//    LWSP, just one is skipped), keeps trailing whitespace, and continuation
//    lines are joined with a bare "\n" (the CR is dropped) followed by the
//    continuation line including its leading whitespace.

export interface HeaderField {
  /** Field name as written (case preserved), "" for a line without a colon. */
  name: string;
  /** Unfolded value, byte string; continuation lines joined with "\n". */
  value: string;
  /** Offset of the field's first byte within the header block. */
  start: number;
  /** Offset just past the field's last line terminator within the block. */
  end: number;
}

const NAME_MAX_LEN = 1000;

function isLwsp(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Parses a header block: the bytes from the start of the header up to (not
 * including) the empty line that ends it. A trailing empty line is tolerated
 * and ignored.
 */
export function parseHeaderBlock(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  const len = block.length;
  let pos = 0;
  let current: HeaderField | null = null;
  while (pos < len) {
    const lf = block.indexOf("\n", pos);
    const lineEnd = lf < 0 ? len : lf; // exclusive, before LF
    const next = lf < 0 ? len : lf + 1;
    let contentEnd = lineEnd;
    if (lf >= 0 && contentEnd > pos && block.charCodeAt(contentEnd - 1) === 0x0d) contentEnd--;
    if (contentEnd === pos && lf >= 0) {
      // empty line: end of header
      break;
    }
    const first = block.charCodeAt(pos);
    if (current !== null && isLwsp(first)) {
      current.value += "\n" + block.slice(pos, contentEnd);
      current.end = next;
      pos = next;
      continue;
    }
    const colon = block.indexOf(":", pos);
    let name = "";
    let value: string;
    if (colon < 0 || colon >= contentEnd) {
      value = block.slice(pos, contentEnd);
    } else {
      let nameEnd = colon;
      while (nameEnd > pos && isLwsp(block.charCodeAt(nameEnd - 1))) nameEnd--;
      if (nameEnd - pos > NAME_MAX_LEN) {
        value = block.slice(pos, contentEnd);
      } else {
        name = block.slice(pos, nameEnd);
        let v = colon + 1;
        while (v < contentEnd && isLwsp(block.charCodeAt(v))) v++;
        if (v === contentEnd && contentEnd > colon + 1) v = colon + 2; // only LWSP: skip one
        value = block.slice(v, contentEnd);
      }
    }
    current = { name, value, start: pos, end: next };
    fields.push(current);
    pos = next;
  }
  return fields;
}

/** Replaces NUL bytes by U+FFFD (UTF-8 bytes), like a C string copy would have to. */
export function stripNuls(value: string): string {
  return value.includes("\0") ? value.replaceAll("\0", "\xef\xbf\xbd") : value;
}
