/** A command's tagged NO/BAD answer, thrown from anywhere inside a handler. */
export class ImapError extends Error {
  constructor(
    readonly condition: "NO" | "BAD",
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "ImapError";
  }
}

export function no(message: string, code: string | null = null): ImapError {
  return new ImapError("NO", message, code);
}

export function bad(message: string, code: string | null = null): ImapError {
  return new ImapError("BAD", message, code);
}
