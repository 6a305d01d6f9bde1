/**
 * The metadata store: one pool and the repositories over it, one per domain.
 * Services reach the database only through these (libs/store/README.md).
 */
import { Accounts } from "./accounts/accounts.ts";
import { Acls } from "./acl/acl.ts";
import { SharedFolders } from "./acl/shared-folders.ts";
import { createPool, type Pool, type QueryTimer } from "./db.ts";
import { DkimKeys } from "./dkim/keys.ts";
import { Mailboxes } from "./mailboxes/mailboxes.ts";
import { Messages } from "./messages/messages.ts";
import { migrate } from "./migrate.ts";
import { OutboundQueue } from "./outbound/queue.ts";
import { Pop3Snapshots } from "./pop3/snapshot.ts";
import { OrphanSubscriptions } from "./subscriptions/subscriptions.ts";

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
  /** Subscribed names without a mailbox (IMAP LSUB/LIST SUBSCRIBED). */
  readonly subscriptions: OrphanSubscriptions;
  readonly pop3: Pop3Snapshots;
  readonly outbound: OutboundQueue;
  readonly dkimKeys: DkimKeys;
  /** Mailbox ACLs and other accounts' mailboxes one may use (RFC 4314, acl/). */
  readonly acl: Acls;
  /** Shared folders, owned by no user (IMAP "Shared/…"; acl/shared-folders.ts). */
  readonly sharedFolders: SharedFolders;

  /**
   * `pool` is public for the store's own tests and for tests that inspect rows
   * directly; production code outside libs/store uses the repositories.
   */
  constructor(readonly pool: Pool) {
    this.accounts = new Accounts(pool);
    this.mailboxes = new Mailboxes(pool);
    this.messages = new Messages(pool);
    this.subscriptions = new OrphanSubscriptions(pool);
    this.pop3 = new Pop3Snapshots(pool);
    this.outbound = new OutboundQueue(pool);
    this.dkimKeys = new DkimKeys(pool);
    this.acl = new Acls(pool);
    this.sharedFolders = new SharedFolders(pool);
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
