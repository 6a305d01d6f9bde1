/**
 * The TRANSACTION state (RFC 1939 §5) and QUIT's UPDATE step (§6). Message
 * numbers refer to the login snapshot; a message marked deleted can't be
 * read, listed or deleted again until RSET.
 */
import { capabilities } from "./capabilities.ts";
import type { MaildropMessage } from "./maildrop.ts";
import { err, multiline, ok } from "./protocol/responses.ts";
import type { HandlerTable, Pop3Session } from "./session.ts";

/** Message n, or undefined after answering -ERR for why not. */
function lookup(session: Pop3Session, n: number): MaildropMessage | undefined {
  const m = session.maildrop!.message(n);
  if (!m)
    return void session.reply(err(`no such message, only ${session.maildrop!.messages.length} in maildrop`));
  if (m.deleted) return void session.reply(err(`message ${n} already deleted`));
  return m;
}

export const transactionHandlers: HandlerTable = {
  CAPA(session) {
    session.reply(multiline("capability list follows", capabilities(session)));
  },

  NOOP(session) {
    session.reply(ok());
  },

  STAT(session) {
    const { count, octets } = session.maildrop!.stat();
    session.reply(ok(`${count} ${octets}`));
  },

  LIST(session, command) {
    const drop = session.maildrop!;
    if (command.msg !== undefined) {
      const m = lookup(session, command.msg);
      if (m) session.reply(ok(`${command.msg} ${m.octets}`));
      return;
    }
    const { count, octets } = drop.stat();
    const lines: string[] = [];
    drop.messages.forEach((m, i) => {
      if (!m.deleted) lines.push(`${i + 1} ${m.octets}`);
    });
    session.reply(multiline(`${count} messages (${octets} octets)`, lines));
  },

  UIDL(session, command) {
    const drop = session.maildrop!;
    if (command.msg !== undefined) {
      const m = lookup(session, command.msg);
      if (m) session.reply(ok(`${command.msg} ${drop.uniqueId(m)}`));
      return;
    }
    const lines: string[] = [];
    drop.messages.forEach((m, i) => {
      if (!m.deleted) lines.push(`${i + 1} ${drop.uniqueId(m)}`);
    });
    session.reply(multiline("unique-id listing follows", lines));
  },

  async RETR(session, command) {
    const m = lookup(session, command.msg);
    if (m) await session.sendMessage(m);
  },

  async TOP(session, command) {
    const m = lookup(session, command.msg);
    if (m) await session.sendMessage(m, command.lines);
  },

  DELE(session, command) {
    const m = lookup(session, command.msg);
    if (!m) return;
    m.deleted = true;
    session.reply(ok(`message ${command.msg} deleted`));
  },

  RSET(session) {
    const drop = session.maildrop!;
    drop.unmarkAll();
    const { count, octets } = drop.stat();
    session.reply(ok(`maildrop has ${count} messages (${octets} octets)`));
  },

  /** UPDATE (RFC 1939 §6): apply the deletions atomically, then release the lock. */
  async QUIT(session) {
    const drop = session.maildrop!;
    session.state = "update";
    session.committing = true;
    let answer: Buffer;
    try {
      const removed = await drop.commit();
      const left = drop.stat().count;
      answer = ok(`Aerogram POP3 signing off (${removed} messages deleted, ${left} left)`);
    } catch (error) {
      session.log.error({ err: error }, "POP3 UPDATE failed; nothing deleted");
      // RFC 1939 §6: "-ERR some deleted messages not removed".
      answer = err("some deleted messages not removed", "SYS/TEMP");
    } finally {
      session.committing = false;
    }
    // The deletions are applied. The release is written to Redis before the
    // answer is written to the client, on the lock's own connection where
    // nothing queues ahead of it, so a client that reconnects at once through
    // another worker or replica finds it done almost always; the lock
    // request's retries (maildrop.ts LOCK_RETRY_MS) cover the rest. The lease
    // is held until Redis has run the release, so nothing can overtake it.
    const releasing = drop.release();
    session.close(answer);
    await releasing;
  },
};
