import type { SharingOps } from "./sharing.ts";

/**
 * The administration operations, one interface with two implementations: over
 * the store directly (the API server itself, and mailctl on the embedded dev
 * setup) and over the admin HTTP API (mailctl with AEROGRAM_ADMIN_URL). mailctl
 * and the API both speak only this interface, so they share one command set.
 */

import type { IdentityOps } from "./identity-ops.ts";
import type { SieveAdminOps } from "./sieve-admin.ts";

export interface AccountView {
  address: string;
  disabled: boolean;
  aliases: string[];
  /** null: no quota. */
  quotaBytes: number | null;
  createdAt: string;
  usage: { bytes: number; messages: number };
}

export interface MailboxView {
  name: string;
  specialUse: string | null;
  subscribed: boolean;
  messages: number;
  bytes: number;
}

export interface HealthView {
  status: "ready" | "not ready";
  checks: { name: string; ok: boolean; error?: string; ms: number }[];
}

/** One outbound queue entry (a message for one recipient domain). */
export interface QueueEntryView {
  id: number;
  domain: string;
  sender: string;
  recipients: string[];
  messageId: string | null;
  size: number;
  attempts: number;
  nextAttemptAt: string;
  expiresAt: string;
  createdAt: string;
  lastError: string | null;
  /** A worker holds it now. */
  leased: boolean;
}

export interface DkimKeyView {
  domain: string;
  selector: string;
  algorithm: "ed25519" | "rsa";
  active: boolean;
  createdAt: string;
  /** The TXT record to publish. */
  dns: { name: string; value: string };
}

export interface AccountChanges {
  disabled?: boolean;
  quotaBytes?: number | null;
}

/** Submission sender policy (issue 19): per account and per domain, overriding SUBMISSION_SENDER_POLICY. */
export type SenderPolicyValue = "account" | "domain" | "any";

export interface SenderPoliciesView {
  accounts: { address: string; policy: SenderPolicyValue }[];
  domains: { domain: string; policy: SenderPolicyValue }[];
}

/** Whose policy to set: one account (by address) or one domain (by name). */
export type SenderPolicyTarget = { account: string } | { domain: string };

export interface AdminOps extends SieveAdminOps {
  /** Shared mailboxes: ACLs of one account's mailboxes (sharing.ts). */
  readonly sharing: SharingOps;
  /** Without a password one is generated and returned (once). */
  createAccount(input: {
    address: string;
    password?: string;
    quotaBytes?: number | null;
  }): Promise<{ account: AccountView; generatedPassword?: string }>;
  listAccounts(): Promise<AccountView[]>;
  getAccount(address: string): Promise<AccountView>;
  updateAccount(address: string, changes: AccountChanges): Promise<AccountView>;
  /** Without a password one is generated and returned (once). */
  setPassword(address: string, password?: string): Promise<{ generatedPassword?: string }>;
  deleteAccount(address: string): Promise<void>;
  addAlias(address: string, alias: string): Promise<AccountView>;
  removeAlias(address: string, alias: string): Promise<AccountView>;
  mailboxes(address: string): Promise<MailboxView[]>;
  health(): Promise<HealthView>;
  /** The outbound queue, oldest first. */
  listQueue(opts?: { domain?: string }): Promise<QueueEntryView[]>;
  /** Makes one entry (or all) due now; returns how many. */
  flushQueue(id?: number): Promise<{ flushed: number }>;
  /** Drops an entry without delivering or bouncing it. */
  deleteQueueEntry(id: number): Promise<void>;
  addDkimKey(input: {
    domain: string;
    selector?: string;
    algorithm?: "ed25519" | "rsa";
  }): Promise<DkimKeyView>;
  listDkimKeys(): Promise<DkimKeyView[]>;
  // Sender policy (issue 19).
  listSenderPolicies(): Promise<SenderPoliciesView>;
  /** null clears the override (back to the domain's, then the deployment's). */
  setSenderPolicy(target: SenderPolicyTarget, policy: SenderPolicyValue | null): Promise<void>;
  /** Domains, forwards, app passwords (identity-ops.ts). */
  readonly identity?: IdentityOps;
}

/** No such account (HTTP 404). */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** The address is taken (HTTP 409). */
export class ConflictError extends Error {
  override name = "ConflictError";
}

/** Bad input (HTTP 400). */
export class InvalidInputError extends Error {
  override name = "InvalidInputError";
}
