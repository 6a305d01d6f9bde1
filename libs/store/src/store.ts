/**
 * The metadata store: one pool and the repositories over it, one per domain.
 * Services reach the database only through these (libs/store/README.md).
 */
import { Accounts } from "./accounts/accounts.ts";
import { PasswordHashes } from "./accounts/password-hashes.ts";
import { Acls } from "./acl/acl.ts";
import { PrivateSeen } from "./acl/private-seen.ts";
import { SharedFolders } from "./acl/shared-folders.ts";
import { AppPasswords } from "./app-passwords/app-passwords.ts";
import { BlobReclaim } from "./blobs/reclaim.ts";
import { createPool, enableNamedStatements, type Pool, type QueryTimer } from "./db.ts";
import { DkimKeys } from "./dkim/keys.ts";
import { Domains } from "./domains/domains.ts";
import { Filtering } from "./filtering/filtering.ts";
import { Mailboxes } from "./mailboxes/mailboxes.ts";
import { Messages } from "./messages/messages.ts";
import { migrate } from "./migrate.ts";
import { OutboundQueue } from "./outbound/queue.ts";
import { SenderPolicies } from "./outbound/sender-policies.ts";
import { Pop3Snapshots } from "./pop3/snapshot.ts";
import { Retention } from "./retention/retention.ts";
import { SearchIndex } from "./search/search-index.ts";
import { SieveScripts } from "./sieve/scripts.ts";
import { OrphanSubscriptions } from "./subscriptions/subscriptions.ts";
import { Transfers } from "./transfer/transfer.ts";

export interface StoreOptions {
  url: string;
  poolMax: number;
  onPoolError?: (err: Error) => void;
  applicationName?: string;
  /** Query timing hook (aerogram_pg_query_duration_seconds). */
  onQuery?: QueryTimer;
  /**
   * Named (prepared) statements where the server allows them (default true):
   * false behind a proxy that moves sessions between server connections
   * (PgBouncer in transaction mode), where a statement prepared on one
   * backend is missing on the next (DATABASE_PREPARED_STATEMENTS=0).
   */
  preparedStatements?: boolean;
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
  /** Spam settings, the Junk target and the learning outbox (issue 21). */
  readonly filtering: Filtering;
  /** Sieve scripts, vacation memory, redirect budget (issue 21). */
  readonly sieve: SieveScripts;
  /** Submission sender policy per account / domain (migration 060). */
  readonly senderPolicies: SenderPolicies;
  /** Full-text rows, SORT/THREAD keys (migration 010). */
  readonly search: SearchIndex;
  /** Blob references released and reclaimed (issue 22, migration 030). */
  readonly blobReclaim: BlobReclaim;
  /** Bulk export/import and IMAP migration state (issue 22). */
  readonly transfers: Transfers;
  /** Imported password hashes and their replacement by ours (issue 22). */
  readonly passwordHashes: PasswordHashes;
  /** Retention rules and the retention worker's queries (issue 22). */
  readonly retention: Retention;
  readonly domains: Domains;
  readonly appPasswords: AppPasswords;
  /** Mailbox ACLs and other accounts' mailboxes one may use (RFC 4314, acl/). */
  readonly acl: Acls;
  /** Shared folders, owned by no user (IMAP "Shared/…"; acl/shared-folders.ts). */
  readonly sharedFolders: SharedFolders;
  /** Per-user \Seen on shared mailboxes (acl/private-seen.ts, migration 090). */
  readonly privateSeen: PrivateSeen;

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
    this.filtering = new Filtering(pool);
    this.sieve = new SieveScripts(pool);
    this.senderPolicies = new SenderPolicies(pool);
    this.search = new SearchIndex(pool);
    this.blobReclaim = new BlobReclaim(pool);
    this.retention = new Retention(pool);
    this.passwordHashes = new PasswordHashes(pool);
    this.transfers = new Transfers(pool);
    this.domains = new Domains(pool);
    this.appPasswords = new AppPasswords(pool);
    this.acl = new Acls(pool);
    this.sharedFolders = new SharedFolders(pool);
    this.privateSeen = new PrivateSeen(pool);
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
      if (opts.preparedStatements !== false) await enableNamedStatements(pool);
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
