// Test helpers: frame text through the real reader, then parse it.

import assert from "node:assert/strict";
import type { Command, CommandOfName } from "../src/ast.ts";
import type { FramedCommand } from "../src/framed-command.ts";
import { type CommandParseError, type ParserOptions, parseCommand } from "../src/parser.ts";
import { CommandReader, type CommandReaderOptions, type ReaderEvent } from "../src/reader.ts";

export function readAll(input: string | Buffer, options?: CommandReaderOptions): ReaderEvent[] {
  const reader = new CommandReader(options);
  reader.push(typeof input === "string" ? Buffer.from(input, "utf8") : input);
  return reader.drain();
}

/** Frames exactly one command; CRLF is appended when missing. */
export function frame(text: string | Buffer, options?: CommandReaderOptions): FramedCommand {
  let input = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  if (!input.toString("latin1").endsWith("\n")) input = Buffer.concat([input, Buffer.from("\r\n")]);
  const commands = readAll(input, options).filter((event) => event.kind === "command");
  assert.equal(commands.length, 1, `expected one command from ${JSON.stringify(text.toString())}`);
  return commands[0]!.command;
}

export function parse(text: string | Buffer, options?: ParserOptions): Command {
  const result = parseCommand(frame(text), options);
  if (!result.ok) assert.fail(`parse failed for ${JSON.stringify(text.toString())}: ${result.error.message}`);
  return result.command;
}

export function parseFails(text: string | Buffer, options?: ParserOptions): CommandParseError {
  const result = parseCommand(frame(text), options);
  if (result.ok) assert.fail(`expected a parse error for ${JSON.stringify(text.toString())}`);
  return result.error;
}

/** Narrows a parsed command to the expected name. */
export function parseAs<N extends Command["name"]>(
  name: N,
  text: string | Buffer,
  options?: ParserOptions,
): CommandOfName<N> {
  const command = parse(text, options);
  assert.equal(command.name, name);
  return command as CommandOfName<N>;
}
