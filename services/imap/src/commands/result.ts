/** What a command handler returns: the tagged response (untagged ones it sends itself). */
export interface CommandResult {
  readonly condition: "OK" | "NO" | "BAD";
  readonly text: string;
  readonly code?: string | null;
}

export function ok(text: string, code: string | null = null): CommandResult {
  return { condition: "OK", text, code };
}
