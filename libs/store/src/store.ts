/**
 * The metadata store: one pool and the repositories over it.
 */
import { Accounts } from "./accounts.ts";
import { createPool, type Pool, type QueryTimer } from "./db.ts";
import { DkimKeys } from "./dkim-keys.ts";
import { Mailboxes } from "./mailboxes.ts";
import { Messages } from "./messages.ts";
import { migrate } from "./migrate.ts";
import { OutboundQueue } from "./outbound-queue.ts";

export interface StoreOptions {
  url: string;
  poolMax: number;
  onPoolError?: (err: Error) => void;
  applicationName?: string;
  /** Query timing hook (aerogram_pg_query_duration_seconds). */
  onQuery?: QueryTimer;
}

export class Store {
  readonly accounts: Accounts;
  readonly mailboxes: Mailboxes;
  readonly messages: Messages;
  readonly outbound: OutboundQueue;
  readonly dkimKeys: DkimKeys;

  constructor(readonly pool: Pool) {
    this.accounts = new Accounts(pool);
    this.mailboxes = new Mailboxes(pool);
    this.messages = new Messages(pool);
    this.outbound = new OutboundQueue(pool);
    this.dkimKeys = new DkimKeys(pool);
  }

  /** Connects and applies pending migrations (safe with several replicas starting at once). */
  static async open(opts: StoreOptions): Promise<Store> {
    const pool = createPool({
      url: opts.url,
      max: opts.poolMax,
      ...(opts.onPoolError ? { onError: opts.onPoolError } : {}),
      ...(opts.applicationName ? { applicationName: opts.applicationName } : {}),
      ...(opts.onQuery ? { onQuery: opts.onQuery } : {}),
    });
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new Store(pool);
  }

  /** Liveness probe for /readyz. */
  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
