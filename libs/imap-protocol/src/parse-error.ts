// The error every parse step throws; parseCommand turns it into a CommandParseError.

export class ParseError extends Error {
  override readonly name = "ParseError";
  constructor(
    message: string,
    /** BAD for syntax errors; NO for well-formed requests we refuse (e.g. BADCHARSET). */
    readonly status: "BAD" | "NO" = "BAD",
    /** Response code text without brackets, e.g. "BADCHARSET (US-ASCII UTF-8)". */
    readonly responseCode: string | null = null,
  ) {
    super(message);
  }
}
