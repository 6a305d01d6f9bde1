/**
 * Ending an account's live sessions on every replica (issue 23): revoking an
 * app password, changing the main password or disabling the account publishes
 * a `sessions-revoked` beacon on the account's bus subject (NATS across
 * replicas); every gateway session of the account listens on that subject from
 * login on and closes itself when it hears one. The bus shares one upstream
 * subscription per account, so a listener per session costs a handler entry.
 *
 * A beacon lost while the bus is down is not retried: the password or app
 * password no longer works for new logins either way, and IMAP's autologout
 * bounds how long an old session can outlive it.
 */
import type { EventBus, Subscription } from "@aerogram/events";

/** Tells every replica to end the account's sessions. Fire and forget (the bus never throws on publish). */
export function revokeSessions(events: EventBus, accountId: number): void {
  events.publish({ account: accountId, mailbox: 0, kind: "sessions-revoked", modseq: "0" });
}

/** Calls `onRevoked` (once) when the account's sessions are revoked; unsubscribe when the session ends. */
export function watchRevocation(events: EventBus, accountId: number, onRevoked: () => void): Subscription {
  let fired = false;
  const sub = events.subscribe(accountId, (event) => {
    if (event.kind !== "sessions-revoked" || fired) return;
    fired = true;
    onRevoked();
  });
  return sub;
}
