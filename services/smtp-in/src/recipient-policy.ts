/**
 * RCPT TO, one recipient at a time (RFC 5321 §3.3: each RCPT gets its own
 * answer, the others in the transaction stand): only addresses of domains we
 * host, of existing enabled accounts or their aliases, with room under quota.
 * Anything else is refused — there is no relay, whoever asks. Which account
 * an address reaches (sub-addresses, alias domains, catch-alls, forwards) is
 * libs/store's recipient resolution (domains/resolve.ts).
 */

import { TtlCache } from "@aerogram/limits";
import { localError, SmtpReply } from "@aerogram/smtp";
import type { Store } from "@aerogram/store";
import type { RateLimits } from "./rate-limits.ts";

type Resolution = Awaited<ReturnType<Store["accounts"]["recipient"]>>;

/** Addresses whose account RCPT TO remembers at once (per process); the oldest goes first. */
const RECIPIENT_CACHE_ENTRIES = 10_000;

export interface AcceptedRecipient {
  /** As given in RCPT TO, lowercased (with its +detail: Sieve reads it). */
  address: string;
  accountId: number;
  inboxId: number;
  /** RFC 5233 detail of a sub-address (`news` of `user+news@domain`). */
  detail?: string;
  /** The account has an active Sieve script (delivery loads it only then). */
  sieve?: boolean;
  /** A forwarding address: the message goes to these through the outbound queue, not to an INBOX. */
  forwardTo?: undefined;
}

/** A forwarding address (libs/store address_forwards): queued for its targets. */
export interface ForwardedRecipient {
  address: string;
  forwardTo: string[];
}

export type Recipient = AcceptedRecipient | ForwardedRecipient;

export class RecipientPolicy {
  /**
   * Accounts found for an address, reused for `recipientCacheMs`
   * (SMTP_RECIPIENT_CACHE_MS): mail tends to arrive for the same addresses in
   * bursts, and each lookup is a round trip while the client waits. Only
   * found accounts are kept: an address that was unknown, relayed or
   * forwarded is looked up every time, so a new account is never refused
   * (550, permanent) from a stale answer. What a kept answer may miss for
   * that long: a disabled account or a script (de)activated meanwhile, and
   * for an account with a quota, what other processes stored into it in
   * those seconds (this process's own deliveries drop the entry: delivered()).
   * A deleted account's INBOX makes the commit fail: 451, and the retry
   * looks it up anew.
   */
  readonly #cache: TtlCache<string, Resolution> | undefined;

  constructor(
    private readonly store: Store,
    private readonly limits: RateLimits,
    /** RFC 5233 separator characters (RECIPIENT_DELIMITER); "" = no sub-addressing. */
    private readonly delimiters = "+",
    recipientCacheMs = 0,
  ) {
    if (recipientCacheMs > 0)
      this.#cache = new TtlCache({ ttlMs: recipientCacheMs, maxEntries: RECIPIENT_CACHE_ENTRIES });
  }

  /**
   * A message was committed for this address: an account with a quota has
   * less room now, so its next RCPT reads the usage again.
   */
  delivered(address: string): void {
    if (this.#cache?.get(address)?.account?.quotaBytes != null) this.#cache.delete(address);
  }

  /** The store's answer for an address, from the cache when it holds the address's account. */
  async #resolve(address: string): Promise<Resolution> {
    const cached = this.#cache?.get(address);
    if (cached) return cached;
    // One round trip: domain, account (by address or alias), INBOX, usage, Sieve.
    const found = await this.store.accounts.recipient(address, this.delimiters);
    if (found.account && found.localDomain) this.#cache?.set(address, found);
    return found;
  }

  /**
   * The recipient's INBOX, or the SmtpReply refusing it. `declaredSize` is the
   * MAIL FROM SIZE= parameter (RFC 1870), 0 when not given.
   */
  async check(rawAddress: string, declaredSize: number): Promise<Recipient | SmtpReply> {
    const address = rawAddress.trim().toLowerCase();
    const at = address.lastIndexOf("@");
    if (at < 1 || at === address.length - 1) {
      return new SmtpReply(550, "5.1.3", "Bad recipient address syntax", "syntax");
    }
    try {
      const found = await this.#resolve(address);
      // An address literal or any domain we don't host is a relay attempt (RFC 5321 §3.6.2, §7.1).
      if (!found.localDomain) {
        return new SmtpReply(550, "5.7.1", "Relay access denied", "relay_denied");
      }
      if (found.forward) return { address, forwardTo: found.forward };
      const account = found.account;
      if (!account) return new SmtpReply(550, "5.1.1", "No such user here", "unknown_user");
      if (account.disabled) return new SmtpReply(550, "5.2.1", "Mailbox disabled", "disabled");
      if (account.quotaBytes !== null) {
        // RFC 1870 §6.2/§6.3: a message that can never fit is a permanent 552;
        // a mailbox that is full now may have room later: 452.
        if (declaredSize > account.quotaBytes) {
          return new SmtpReply(552, "5.2.2", "Message exceeds the mailbox's quota", "over_quota");
        }
        const used = account.usedBytes ?? 0;
        if (used + declaredSize > account.quotaBytes || used >= account.quotaBytes) {
          return new SmtpReply(452, "4.2.2", "Mailbox full, try again later", "mailbox_full");
        }
      }
      if (account.inboxId === undefined) return localError("Mailbox temporarily unavailable");
      if (!(await this.limits.messageToAccount(account.id))) {
        return new SmtpReply(
          451,
          "4.7.1",
          "Recipient is receiving too much mail, try again later",
          "rate_limited",
        );
      }
      return {
        address,
        accountId: account.id,
        inboxId: account.inboxId,
        sieve: account.hasSieve,
        ...(found.detail !== undefined ? { detail: found.detail } : {}),
      };
    } catch {
      return localError();
    }
  }
}
