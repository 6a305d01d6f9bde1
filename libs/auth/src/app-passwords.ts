/**
 * App passwords in the login path (issue 23). The store keeps them
 * (libs/store app-passwords/): named, limited to protocols, revocable. A login
 * whose password has an app password's shape is looked up by hash in one
 * query that also records the use (time, IP); any other password skips it.
 *
 * Not cached: a revoked app password must stop working on the next login, on
 * every replica, without waiting for a cache to expire.
 */
import { type Account, looksLikeAppPassword, type Store } from "@aerogram/store";

/** Gateways' protocol names as app passwords scope them. */
const SCOPES: Record<string, string> = {
  imap: "imap",
  pop3: "pop3",
  submission: "submission",
  managesieve: "managesieve",
};

export async function checkAppPassword(
  store: Store,
  account: Account,
  req: { password: string; protocol: string; remoteAddress: string },
): Promise<boolean> {
  if (!looksLikeAppPassword(req.password)) return false;
  const scope = SCOPES[req.protocol] ?? req.protocol;
  return (await store.appPasswords.verify(account.id, req.password, scope, req.remoteAddress)) !== undefined;
}
