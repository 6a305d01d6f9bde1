/**
 * Where one incoming message goes for each recipient: the account's INBOX, its
 * \Junk mailbox when SMTP-in's spam or DMARC verdict says so (unless the
 * account, or failing an account setting its domain's spam_action, asks for
 * spam in INBOX), or wherever its active Sieve script files it
 * (`FilteredDelivery`, libs/sieve). A Junk verdict for recipients whose spam
 * action is all "reject" (their domain's default) refuses the message at DATA;
 * when only some recipients reject, theirs go to Junk rather than being
 * dropped after a 250. The plan is computed before the one
 * delivery transaction; side effects (vacation replies, redirects) run only
 * after the commit, through `afterCommit`, so a failed or duplicate delivery
 * sends nothing.
 *
 * Mail is never lost to a filter: a script that fails to load or run leaves
 * that recipient's copy in its implicit-keep mailbox (RFC 5228 §2.10.6) and
 * is logged by the runner.
 */
import type { Store } from "@aerogram/store";
import type { DeliveryTarget, StoredBlob } from "./deliver.ts";

export interface FilterRecipient {
  /** The envelope recipient as given in RCPT TO (lowercased). */
  address: string;
  accountId: number;
  inboxId: number;
  /**
   * Whether the account has an active Sieve script, when the caller already
   * knows (SMTP-in's RCPT lookup): false skips the script lookup, one round
   * trip per recipient. Undefined: the filter looks.
   */
  sieve?: boolean;
}

export interface FilterMessage {
  sender: string;
  recipients: readonly FilterRecipient[];
  /** The spam/DMARC verdict says Junk. */
  junk: boolean;
}

/** One recipient account's filtering result. */
export interface RecipientPlan {
  /** Mailboxes (with flags) for this account's copies; empty = discarded. */
  targets: DeliveryTarget[];
  /** What each target is, for metrics: "inbox", "junk", "other". */
  placements: string[];
  /** Sends or queues what the script asked for beyond storing (vacation, redirect). */
  afterCommit?: () => Promise<void>;
  /**
   * The script rejected the message (RFC 5429): refused at SMTP when every
   * recipient rejects it, else `notice` (a rejection message to the sender)
   * runs after the commit.
   */
  reject?: { reason: string; notice: () => Promise<void> };
}

/** The per-recipient filter (Sieve) libs/delivery runs; implemented over libs/sieve (sieve-filter.ts). */
export interface FilteredDelivery {
  plan(
    recipient: FilterRecipient,
    blob: StoredBlob,
    message: FilterMessage,
    implicitKeep: { mailboxId: number; kind: "inbox" | "junk" },
  ): Promise<RecipientPlan>;
}

export interface DeliveryPlan {
  /** Every recipient's script rejected the message: refuse it with this reason (RFC 5429 §2.1.1). */
  refuse: string | undefined;
  /** A Junk verdict and every recipient's spam action is "reject": refuse it (550 5.7.1), no Sieve run. */
  refuseSpam?: true;
  targets: DeliveryTarget[];
  placements: string[];
  /** Runs every side effect; never throws (the message is committed: a failure is returned to be logged). */
  afterCommit(): Promise<Error[]>;
}

export interface PlanOptions {
  /**
   * Whether a unanimous reject may refuse the message at the protocol level
   * (SMTP-in, RFC 5429 §2.1.1). Submission passes false: the authenticated
   * sender's client gets 250 and every rejecting recipient's script sends a
   * rejection notice after the commit instead, as Pigeonhole does for LMTP/LDA
   * deliveries it cannot refuse (a rejection mail to the envelope sender).
   */
  refuseAtProtocol?: boolean;
}

export async function planDelivery(
  store: Store,
  filtered: FilteredDelivery | undefined,
  blob: StoredBlob,
  message: FilterMessage,
  options: PlanOptions = {},
): Promise<DeliveryPlan> {
  // One plan per account, even when two RCPTs (an alias and its account) lead to it; the first RCPT names it.
  const byAccount = new Map<number, FilterRecipient>();
  for (const r of message.recipients) if (!byAccount.has(r.accountId)) byAccount.set(r.accountId, r);
  const targets = new Map<number, DeliveryTarget>();
  const placements: string[] = [];
  const after: (() => Promise<void>)[] = [];
  const rejects: NonNullable<RecipientPlan["reject"]>[] = [];
  const spamTargets = new Map<number, Awaited<ReturnType<Store["filtering"]["spamTarget"]>>>();
  if (message.junk) {
    for (const r of byAccount.values())
      spamTargets.set(r.accountId, await store.filtering.spamTarget(r.accountId, r.inboxId));
    const all = [...spamTargets.values()];
    if (all.length > 0 && all.every((t) => t.action === "reject"))
      return {
        refuse: undefined,
        refuseSpam: true,
        targets: [],
        placements: [],
        afterCommit: async () => [],
      };
  }
  for (const r of byAccount.values()) {
    let keep: { mailboxId: number; kind: "inbox" | "junk" } = { mailboxId: r.inboxId, kind: "inbox" };
    const t = spamTargets.get(r.accountId);
    if (t?.action === "inbox") keep = { mailboxId: r.inboxId, kind: "inbox" };
    else if (t)
      keep = { mailboxId: t.mailboxId ?? (await store.filtering.junkMailbox(r.accountId)), kind: "junk" };
    const plan: RecipientPlan = filtered
      ? await filtered.plan(r, blob, message, keep)
      : { targets: [{ mailboxId: keep.mailboxId }], placements: [keep.kind] };
    for (const t of plan.targets) {
      const seen = targets.get(t.mailboxId);
      if (seen) {
        // Two actions into one mailbox store one copy with the union of their flags (RFC 5228 §4.1 end).
        const flags = new Set([...(seen.flags ?? []), ...(t.flags ?? [])]);
        targets.set(t.mailboxId, { mailboxId: t.mailboxId, flags: [...flags] });
      } else targets.set(t.mailboxId, t);
    }
    placements.push(...plan.placements);
    if (plan.afterCommit) after.push(plan.afterCommit);
    if (plan.reject) rejects.push(plan.reject);
  }
  const refuse =
    (options.refuseAtProtocol ?? true) && rejects.length > 0 && rejects.length === byAccount.size
      ? rejects[0]!.reason
      : undefined;
  if (!refuse) for (const r of rejects) after.push(r.notice);
  return {
    refuse,
    targets: [...targets.values()],
    placements,
    async afterCommit() {
      const errors: Error[] = [];
      for (const f of after) {
        try {
          await f();
        } catch (err) {
          errors.push(err as Error);
        }
      }
      return errors;
    },
  };
}
