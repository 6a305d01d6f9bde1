// The unit the reader hands to the parser: one command's line segments and literals.

/** A literal the reader buffered whole into the command. */
export interface BufferedLiteral {
  readonly kind: "buffered";
  /** Position of this literal among the command's literals, from 0. */
  readonly index: number;
  readonly data: Buffer;
  /** True for a literal8 (`~{n}`, RFC 3516), which may contain NUL octets. */
  readonly binary: boolean;
}

/**
 * A literal the reader delivered to the host as literal-start / literal-chunk /
 * literal-end events instead of buffering it; the command only records where it was.
 */
export interface StreamedLiteral {
  readonly kind: "streamed";
  readonly index: number;
  readonly size: number;
  readonly binary: boolean;
}

export type FramedLiteral = BufferedLiteral | StreamedLiteral;

/**
 * One command as framed from the byte stream. `segments[i]` is the text of the i-th
 * line without its CRLF; every segment but the last ends with a literal header
 * (`{n}`, `{n+}`, `~{n}`, `~{n+}`) whose octets are `literals[i]`.
 * So `segments.length === literals.length + 1`.
 */
export interface FramedCommand {
  /** The first space-delimited word of the first line, as sent (not yet validated). */
  readonly tag: string;
  /** Upper-cased command name, "UID FETCH" style for UID commands; "" when absent. */
  readonly commandName: string;
  readonly segments: readonly Buffer[];
  readonly literals: readonly FramedLiteral[];
}
