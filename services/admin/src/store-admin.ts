/**
 * AdminOps over the metadata store: what the admin API serves, and what
 * mailctl runs in its direct mode (embedded dev setup, no API URL given).
 */
import { randomBytes } from "node:crypto";
import { addDkimKey, type DkimKeyInfo, listDkimKeys } from "@aerogram/dkim";
import {
  type Account,
  AccountExistsError,
  DkimKeyExistsError,
  InvalidAddressError,
  normalizeAddress,
  type OutboundEntry,
  type Store,
} from "@aerogram/store";
import {
  type AccountChanges,
  type AccountView,
  type AdminOps,
  ConflictError,
  type DkimKeyView,
  type HealthView,
  InvalidInputError,
  type MailboxView,
  NotFoundError,
  type QueueEntryView,
  type SenderPoliciesView,
  type SenderPolicyTarget,
  type SenderPolicyValue,
} from "./admin-ops.ts";
import { StoreIdentityOps } from "./identity-ops.ts";
import { type SharingOps, StoreSharing } from "./sharing.ts";
import { type SieveAdminOps, storeSieveOps } from "./sieve-admin.ts";

function queueEntryView(e: OutboundEntry): QueueEntryView {
  return {
    id: e.id,
    domain: e.domain,
    sender: e.sender,
    recipients: e.recipients,
    messageId: e.messageId,
    size: e.size,
    attempts: e.attempts,
    nextAttemptAt: e.nextAttemptAt.toISOString(),
    expiresAt: e.expiresAt.toISOString(),
    createdAt: e.createdAt.toISOString(),
    lastError: e.lastError,
    leased: e.leaseUntil !== null && e.leaseUntil.getTime() > Date.now(),
  };
}

function dkimKeyView(k: DkimKeyInfo): DkimKeyView {
  return { ...k, createdAt: k.createdAt.toISOString() };
}

/** 12 characters of base64url: 72 random bits. */
export function generatePassword(): string {
  return randomBytes(9).toString("base64url");
}

export interface StoreAdminOptions {
  /** Default: generatePassword. */
  generatePassword?: () => string;
  /** The DKIM key-encryption secret (dkimSecret in libs/dkim); undefined: `dkim add` refuses. */
  dkimSecret?: string;
  /** The readiness checks for the health summary; default: the store answers. */
  health?: () => Promise<HealthView["checks"]>;
  /** Ends an account's live sessions on every replica (libs/auth revokeSessions): password change, disable, app password revoked. */
  revokeSessions?: (accountId: number) => void;
}

/** Store errors → the admin error kinds the API maps to status codes. */
async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof AccountExistsError) throw new ConflictError(err.message);
    if (err instanceof InvalidAddressError) throw new InvalidInputError(err.message);
    throw err;
  }
}

export class StoreAdmin implements AdminOps {
  /** Sieve scripts and spam settings (sieve-admin.ts). */
  readonly #sieve: SieveAdminOps;

  readonly identity: StoreIdentityOps;

  readonly sharing: SharingOps;

  constructor(
    private readonly store: Store,
    private readonly opts: StoreAdminOptions = {},
  ) {
    this.sharing = new StoreSharing(store);
    this.identity = new StoreIdentityOps(store, opts.revokeSessions);
    this.#sieve = storeSieveOps(store, (address) => this.account(address));
  }

  putSieveScript: SieveAdminOps["putSieveScript"] = (...a) => this.#sieve.putSieveScript(...a);
  getSieveScript: SieveAdminOps["getSieveScript"] = (...a) => this.#sieve.getSieveScript(...a);
  activateSieveScript: SieveAdminOps["activateSieveScript"] = (...a) => this.#sieve.activateSieveScript(...a);
  listSieveScripts: SieveAdminOps["listSieveScripts"] = (...a) => this.#sieve.listSieveScripts(...a);
  setSpamToInbox: SieveAdminOps["setSpamToInbox"] = (...a) => this.#sieve.setSpamToInbox(...a);

  private newPassword(): string {
    return (this.opts.generatePassword ?? generatePassword)();
  }

  private async view(a: Account): Promise<AccountView> {
    const usage = await this.store.accounts.usage(a.id);
    return {
      address: a.address,
      disabled: a.disabled,
      aliases: a.aliases,
      quotaBytes: a.quotaBytes,
      createdAt: a.createdAt.toISOString(),
      usage: { bytes: Number(usage.bytes), messages: Number(usage.messages) },
    };
  }

  private async account(address: string): Promise<Account> {
    let normalized: string;
    try {
      normalized = normalizeAddress(address);
    } catch (err) {
      throw new InvalidInputError((err as Error).message);
    }
    const a = await this.store.accounts.byAddress(normalized);
    if (!a) throw new NotFoundError(`no account ${normalized}`);
    return a;
  }

  async createAccount(input: { address: string; password?: string; quotaBytes?: number | null }) {
    const password = input.password ?? this.newPassword();
    const a = await translated(() =>
      this.store.accounts.create({
        address: input.address,
        password,
        // Not given: the domain's default quota (mailctl domain add --quota).
        ...(input.quotaBytes !== undefined ? { quotaBytes: input.quotaBytes } : {}),
      }),
    );
    return {
      account: await this.view(a),
      ...(input.password === undefined ? { generatedPassword: password } : {}),
    };
  }

  async listAccounts(): Promise<AccountView[]> {
    return Promise.all((await this.store.accounts.list()).map((a) => this.view(a)));
  }

  async getAccount(address: string): Promise<AccountView> {
    return this.view(await this.account(address));
  }

  async updateAccount(address: string, changes: AccountChanges): Promise<AccountView> {
    const a = await this.account(address);
    if (changes.disabled !== undefined) await this.store.accounts.setDisabled(a.id, changes.disabled);
    if (changes.disabled === true) this.opts.revokeSessions?.(a.id);
    if (changes.quotaBytes !== undefined) await this.store.accounts.setQuota(a.id, changes.quotaBytes);
    return this.getAccount(a.address);
  }

  async setPassword(address: string, password?: string) {
    const a = await this.account(address);
    const chosen = password ?? this.newPassword();
    await this.store.accounts.setPassword(a.id, chosen);
    this.opts.revokeSessions?.(a.id);
    return password === undefined ? { generatedPassword: chosen } : {};
  }

  async deleteAccount(address: string): Promise<void> {
    const a = await this.account(address);
    await this.store.accounts.delete(a.id);
  }

  async addAlias(address: string, alias: string): Promise<AccountView> {
    const a = await this.account(address);
    await translated(() => this.store.accounts.addAlias(a.id, alias));
    return this.getAccount(a.address);
  }

  async removeAlias(address: string, alias: string): Promise<AccountView> {
    const a = await this.account(address);
    const normalized = alias.trim().toLowerCase();
    if (!a.aliases.includes(normalized))
      throw new NotFoundError(`${normalized} is not an alias of ${a.address}`);
    await this.store.accounts.removeAlias(normalized);
    return this.getAccount(a.address);
  }

  async mailboxes(address: string): Promise<MailboxView[]> {
    const a = await this.account(address);
    return (await this.store.mailboxes.list(a.id)).map((m) => ({
      name: m.name,
      specialUse: m.specialUse,
      subscribed: m.subscribed,
      messages: Number(m.messageCount),
      bytes: Number(m.totalSize),
    }));
  }

  async health(): Promise<HealthView> {
    const checks = this.opts.health
      ? await this.opts.health()
      : await (async () => {
          const started = performance.now();
          const ms = () => Math.round(performance.now() - started);
          try {
            await this.store.ping();
            return [{ name: "postgres", ok: true, ms: ms() }];
          } catch (err) {
            return [{ name: "postgres", ok: false, error: (err as Error).message, ms: ms() }];
          }
        })();
    return { status: checks.every((c) => c.ok) ? "ready" : "not ready", checks };
  }

  async listQueue(opts: { domain?: string } = {}): Promise<QueueEntryView[]> {
    return (await this.store.outbound.list(opts)).map(queueEntryView);
  }

  async flushQueue(id?: number): Promise<{ flushed: number }> {
    return { flushed: await this.store.outbound.flush(id) };
  }

  async deleteQueueEntry(id: number): Promise<void> {
    if (!(await this.store.outbound.remove(id))) throw new NotFoundError(`no queue entry ${id}`);
  }

  async addDkimKey(input: {
    domain: string;
    selector?: string;
    algorithm?: "ed25519" | "rsa";
  }): Promise<DkimKeyView> {
    if (!this.opts.dkimSecret) {
      throw new InvalidInputError(
        "DKIM keys need DKIM_ENCRYPTION_KEY (the secret they are stored encrypted under)",
      );
    }
    try {
      return dkimKeyView(await addDkimKey(this.store, this.opts.dkimSecret, input));
    } catch (err) {
      if (err instanceof DkimKeyExistsError) throw new ConflictError(err.message);
      if (err instanceof Error && /selector/.test(err.message)) throw new InvalidInputError(err.message);
      throw err;
    }
  }

  async listDkimKeys(): Promise<DkimKeyView[]> {
    return (await listDkimKeys(this.store)).map(dkimKeyView);
  }

  async listSenderPolicies(): Promise<SenderPoliciesView> {
    return this.store.senderPolicies.list();
  }

  async setSenderPolicy(target: SenderPolicyTarget, policy: SenderPolicyValue | null): Promise<void> {
    if ("domain" in target) {
      const domain = target.domain.trim().toLowerCase();
      if (!/^[a-z0-9.-]{1,253}$/.test(domain) || !domain.includes("."))
        throw new InvalidInputError(`not a domain name: ${target.domain}`);
      await this.store.senderPolicies.setForDomain(domain, policy);
      return;
    }
    const account = await this.store.accounts.byAddress(target.account);
    if (!account || !(await this.store.senderPolicies.setForAccount(account.id, policy)))
      throw new NotFoundError(`no account ${target.account}`);
  }
}
