/**
 * One command line to one response: the pending SASL step gets the line
 * first; otherwise it is parsed and run by the handler of the current state
 * (RFC 1939 §3: a command not valid in this state answers -ERR). A handler
 * that throws answers -ERR [SYS/TEMP] and the session carries on; every
 * command is counted and timed.
 */
import type { LineEvent } from "@aerogram/net";
import { authorizationHandlers } from "../authorization.ts";
import { parseCommand } from "../protocol/commands.ts";
import { err } from "../protocol/responses.ts";
import type { Handler, Pop3Session } from "../session.ts";
import { transactionHandlers } from "../transaction.ts";
import { ConnectionClosedError } from "./connection.ts";

export async function dispatch(session: Pop3Session, ev: LineEvent): Promise<void> {
  const { metrics } = session.deps;
  if (ev.kind === "too-long") {
    session.saslStep = undefined;
    metrics.countCommand("unknown", false);
    session.reply(err("line too long"));
    return;
  }
  const line = ev.line.toString("utf8");
  if (session.saslStep) {
    const step = session.saslStep;
    session.saslStep = undefined;
    await step(session, line);
    return;
  }
  const started = performance.now();
  const parsed = parseCommand(line);
  if (!parsed.ok) {
    metrics.countCommand(parsed.name ?? "unknown", false);
    session.reply(err(parsed.message));
    return;
  }
  const command = parsed.command;
  const table = session.state === "authorization" ? authorizationHandlers : transactionHandlers;
  const handler = table[command.name] as Handler | undefined;
  if (!handler) {
    metrics.countCommand(command.name, false);
    session.reply(
      command.name === "LAST"
        ? err("LAST is not supported (obsolete since RFC 1939)")
        : err(`${command.name} is not valid in the ${session.state.toUpperCase()} state`),
    );
    return;
  }
  session.lastReplyOk = false;
  try {
    await handler(session, command);
  } catch (error) {
    if (error instanceof ConnectionClosedError) throw error;
    session.log.error({ err: error, command: command.name }, "POP3 command failed");
    session.reply(err("temporary failure, try again later", "SYS/TEMP"));
  }
  metrics.countCommand(command.name, session.lastReplyOk);
  metrics.observeDuration(command.name, (performance.now() - started) / 1000);
}
