/**
 * JSON logs with pino. Each session gets a child logger carrying its session id
 * (and protocol, remote address), so one grep follows a connection.
 */
import { randomBytes } from "node:crypto";
import { type Logger, pino } from "pino";

export type { Logger };

export function createLogger(opts: {
  level: string;
  service?: string;
  destination?: NodeJS.WritableStream;
}): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: opts.service ?? "aerogram", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Credentials must never reach a log line, whatever a caller passes in.
      redact: {
        paths: ["password", "*.password", "token", "*.token", "authorization"],
        censor: "[redacted]",
      },
    },
    opts.destination ?? process.stdout,
  );
}

/** A short random id for a session or request (not a secret; just unique enough to grep). */
export function newSessionId(): string {
  return randomBytes(6).toString("base64url");
}
