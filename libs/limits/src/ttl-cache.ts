/**
 * A small in-process cache whose entries expire after a time to live and
 * whose size is bounded: when full, the entry written longest ago goes first
 * (a Map keeps insertion order, and a write moves its key to the end). Used
 * for verified logins (libs/auth) and DNS answers (services/smtp-in), where a
 * bounded memory matters more than keeping the most-read entries.
 */
export interface TtlCacheOptions {
  /** How long an entry is served after it was written (ms), unless set() names another. */
  ttlMs: number;
  /** At most this many entries; writing one more drops the oldest write. */
  maxEntries: number;
  /** The clock (tests). */
  now?: () => number;
}

export class TtlCache<K, V> {
  readonly #entries = new Map<K, { value: V; expires: number }>();
  readonly #now: () => number;

  constructor(private readonly opts: TtlCacheOptions) {
    if (!(opts.maxEntries >= 1)) throw new RangeError("TtlCache: maxEntries must be at least 1");
    this.#now = opts.now ?? Date.now;
  }

  /** The value written under `key` if it has not expired. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expires > this.#now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  set(key: K, value: V, ttlMs: number = this.opts.ttlMs): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.opts.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expires: this.#now() + ttlMs });
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
