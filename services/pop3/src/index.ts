/**
 * @aerogram/pop3: the POP3 gateway (RFC 1939, RFC 2449, RFC 5034, RFC 2595,
 * RFC 3206) over the account's INBOX.
 *
 * One session per maildrop across every replica (RFC 1939 §8), enforced by a
 * lease in the shared limiter (Redis). IMAP is deliberately NOT blocked by a
 * POP3 session: IMAP clients (phones, webmail) stay usable while a POP3
 * client downloads, POP3 works on its login snapshot, and its deletions are
 * UID-based expunges that IMAP sessions learn about through the expunge log
 * and event like any other.
 */
import type { ServiceStarter } from "@aerogram/runtime";
import { createPop3Service } from "./service.ts";

export * from "./maildrop.ts";
export * from "./protocol/index.ts";
export * from "./service.ts";
export * from "./session.ts";

export const startPop3: ServiceStarter = (runtime) => createPop3Service(runtime);
