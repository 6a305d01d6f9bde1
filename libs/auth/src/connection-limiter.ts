/**
 * Per-account concurrent session limit per protocol, across every replica
 * (the shared limiter: Redis in production), used by the IMAP and POP3
 * gateways after a successful login.
 *
 * Counting survives crashed replicas without per-session bookkeeping in Redis:
 * counts live in epoch keys, `conn:<protocol>:<account>:<epoch>`, one per
 * `epochMs` window (default 60 s). A login adds 1 to the current epoch's key,
 * a logout subtracts 1 from every epoch key its session is counted in. Once per
 * epoch, one timer per process re-registers every account it still holds
 * sessions for: it adds its live count for that account to the new epoch's key.
 * The current total is the larger of the current and the previous epoch's
 * value (processes that have not rolled over yet are still counted in the
 * previous one). A replica that crashes stops re-registering, so its sessions
 * drop out of the count within two epochs, whatever other sessions the account
 * keeps open elsewhere; a plain counter with a renewed TTL would keep a dead
 * replica's increments for as long as any session of the account stays alive.
 * Keys expire three epochs after their last change.
 *
 * The limit is soft at epoch boundaries: until every replica has rolled over
 * (within one tick, epochMs / 10) a few sessions more than the limit can be let
 * in. When the limiter is unreachable, logins are allowed (availability over a
 * safety limit) and the failure is logged.
 */
import type { Limiter } from "@aerogram/limits";
import type { Logger } from "@aerogram/observability";

export interface ConnectionLimiterOptions {
  /** Authenticated sessions per account and protocol across the cluster (default 20). */
  maxPerAccount?: number;
  /** Length of a counting epoch (default 60 s); a crashed replica's sessions are forgotten within two. */
  epochMs?: number;
}

/** Per (protocol, account): this process's live sessions and the epochs it registered them in. */
interface Holding {
  key: string;
  count: number;
  /** Epochs whose key holds this process's sessions of the account (the latest two matter). */
  registered: Set<number>;
}

interface Slot {
  holding: Holding;
  /** The epoch the session logged in: it is counted in that epoch's key and every later registered one. */
  since: number;
  released: boolean;
}

export class ConnectionLimiter {
  readonly maxPerAccount: number;
  readonly epochMs: number;
  readonly #holdings = new Map<string, Holding>();
  readonly #slots = new WeakMap<object, Slot>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly deps: { limits: Limiter; log: Logger },
    options: ConnectionLimiterOptions = {},
  ) {
    this.maxPerAccount = options.maxPerAccount ?? 20;
    this.epochMs = options.epochMs ?? 60_000;
    this.#timer = setInterval(() => this.#rollOver(), Math.max(10, Math.floor(this.epochMs / 10)));
    this.#timer.unref();
  }

  #epoch(): number {
    return Math.floor(Date.now() / this.epochMs);
  }

  #keyOf(holding: Holding, epoch: number): string {
    return `${holding.key}:${epoch}`;
  }

  get #ttl(): number {
    return this.epochMs * 3;
  }

  /**
   * Counts a session of `account` for `owner` (the session object). False when
   * the account already has maxPerAccount sessions of this protocol: refuse the
   * login. Release with release(owner) when the session ends.
   */
  async acquire(protocol: string, account: number | string, owner: object): Promise<boolean> {
    if (this.#slots.has(owner)) return true;
    const id = `conn:${protocol}:${account}`;
    let holding = this.#holdings.get(id);
    if (!holding) {
      holding = { key: id, count: 0, registered: new Set() };
      this.#holdings.set(id, holding);
    }
    const epoch = this.#epoch();
    const slot: Slot = { holding, since: epoch, released: false };
    // Counted locally first, so a roll-over running meanwhile includes this session
    // (and the explicit +1 below is then skipped for the epoch it registered).
    holding.count++;
    this.#slots.set(owner, slot);
    try {
      // The first session of the epoch registers every live one of this process.
      const by = holding.registered.has(epoch) ? 1 : holding.count;
      holding.registered.add(epoch);
      const [current, previous] = await Promise.all([
        this.deps.limits.incr(this.#keyOf(holding, epoch), by, this.#ttl),
        this.deps.limits.get(this.#keyOf(holding, epoch - 1)),
      ]);
      const total = Math.max(current, previous + 1);
      if (total <= this.maxPerAccount) return true;
      await this.release(owner);
      return false;
    } catch (err) {
      this.deps.log.warn({ err, protocol }, "connection limiter unavailable; login allowed");
      return true;
    }
  }

  /** Uncounts the session of `owner`, if it was counted; idempotent. */
  async release(owner: object): Promise<void> {
    const slot = this.#slots.get(owner);
    if (!slot || slot.released) return;
    slot.released = true;
    this.#slots.delete(owner);
    const { holding } = slot;
    holding.count--;
    const epoch = this.#epoch();
    const counted = [epoch - 1, epoch].filter((e) => e >= slot.since && holding.registered.has(e));
    if (holding.count === 0 && this.#holdings.get(holding.key) === holding)
      this.#holdings.delete(holding.key);
    try {
      await Promise.all(counted.map((e) => this.deps.limits.incr(this.#keyOf(holding, e), -1, this.#ttl)));
    } catch (err) {
      this.deps.log.warn({ err }, "connection limiter unavailable; a session end was not counted");
    }
  }

  /** The per-process timer: registers this process's live sessions in the current epoch. */
  #rollOver(): void {
    const epoch = this.#epoch();
    for (const holding of this.#holdings.values()) {
      for (const e of holding.registered) if (e < epoch - 1) holding.registered.delete(e);
      if (holding.count === 0 || holding.registered.has(epoch)) continue;
      holding.registered.add(epoch);
      this.deps.limits.incr(this.#keyOf(holding, epoch), holding.count, this.#ttl).catch((err: unknown) => {
        holding.registered.delete(epoch);
        this.deps.log.warn({ err }, "connection limiter roll-over failed; retrying");
      });
    }
  }

  /** Stops the roll-over timer (the counts of this process then expire within two epochs). */
  close(): void {
    clearInterval(this.#timer);
  }
}
