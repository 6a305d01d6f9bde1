/**
 * Per-account concurrent session limit per protocol, across every replica
 * (the shared limiter: Redis in production), used by the IMAP and POP3
 * gateways after a successful login.
 *
 * Each session holds one of the account's slots (`conn:<protocol>:<account>`)
 * from the limiter's holdSlot, the same mechanism SMTP-in's per-IP connection
 * limit uses: a slot is a lease that this process's one heartbeat renews, so
 * the sessions of a replica that dies without releasing them stop counting
 * within the slot lease (REDIS_SLOT_LEASE_MS, default 30 s), whatever other
 * sessions the account keeps open elsewhere, and the count is exact in
 * between. A login is one round trip (count and add in one script), a logout
 * one more. When the limiter is unreachable, logins are allowed (availability
 * over a safety limit) and the failure is logged.
 */
import type { Limiter, Slot } from "@aerogram/limits";
import type { Logger } from "@aerogram/observability";

export interface ConnectionLimiterOptions {
  /** Authenticated sessions per account and protocol across the cluster (default 20). */
  maxPerAccount?: number;
}

export class ConnectionLimiter {
  readonly maxPerAccount: number;
  /** The slot of each counted session; null while its acquire is under way. */
  readonly #slots = new WeakMap<object, Slot | null>();
  /** Sessions released while their acquire was under way: the slot goes back as soon as it arrives. */
  readonly #releasedEarly = new WeakSet<object>();

  constructor(
    private readonly deps: { limits: Limiter; log: Logger },
    options: ConnectionLimiterOptions = {},
  ) {
    this.maxPerAccount = options.maxPerAccount ?? 20;
  }

  /**
   * Counts a session of `account` for `owner` (the session object). False when
   * the account already has maxPerAccount sessions of this protocol: refuse the
   * login. Release with release(owner) when the session ends.
   */
  async acquire(protocol: string, account: number | string, owner: object): Promise<boolean> {
    if (this.#slots.has(owner)) return true;
    this.#slots.set(owner, null);
    let slot: Slot | undefined;
    try {
      slot = await this.deps.limits.holdSlot(`conn:${protocol}:${account}`, this.maxPerAccount);
    } catch (err) {
      this.#slots.delete(owner);
      this.#releasedEarly.delete(owner);
      this.deps.log.warn({ err, protocol }, "connection limiter unavailable; login allowed");
      return true;
    }
    if (!slot || this.#releasedEarly.delete(owner)) {
      this.#slots.delete(owner);
      // A slot kept for a session that is gone would be renewed for as long as this process lives.
      if (slot) await this.#giveBack(slot);
      return false;
    }
    this.#slots.set(owner, slot);
    return true;
  }

  /**
   * The session's slot now belongs to another object (an IMAP session hibernating
   * to a compact record and back): the count does not change.
   */
  transfer(from: object, to: object): void {
    const slot = this.#slots.get(from);
    // Only a held slot moves: an acquire under way still sets it on `from`.
    if (!slot) return;
    this.#slots.delete(from);
    this.#slots.set(to, slot);
  }

  /** Uncounts the session of `owner`, if it was counted; idempotent. */
  async release(owner: object): Promise<void> {
    const slot = this.#slots.get(owner);
    if (slot === undefined) return;
    if (slot === null) {
      this.#releasedEarly.add(owner);
      return;
    }
    this.#slots.delete(owner);
    await this.#giveBack(slot);
  }

  async #giveBack(slot: Slot): Promise<void> {
    try {
      await slot.release();
    } catch (err) {
      // The slot is no longer renewed: it lapses within the lease.
      this.deps.log.warn({ err }, "connection limiter unavailable; a session end was not counted");
    }
  }

  /** Nothing to stop: the limiter's heartbeat renews the slots (kept for the gateways' shutdown path). */
  close(): void {}
}
