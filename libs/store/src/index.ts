// The store's public API: the Store and its repositories, their row types and
// errors, and the transaction-scoped helpers a multi-step write composes.
export * from "./accounts/accounts.ts";
export * from "./accounts/password.ts";
export * from "./acl/acl.ts";
export * from "./acl/shared-folders.ts";
export * from "./changes/changes.ts";
export * from "./changes/expunge-log.ts";
export * from "./db.ts";
export * from "./dedupe/delivery-dedupe.ts";
export * from "./dkim/keys.ts";
export * from "./mailboxes/mailboxes.ts";
export * from "./mailboxes/rename.ts";
export * from "./mailboxes/status.ts";
export * from "./messages/append.ts";
export * from "./messages/copy.ts";
export * from "./messages/expunge.ts";
export * from "./messages/fetch.ts";
export * from "./messages/flags.ts";
export * from "./messages/messages.ts";
export * from "./messages/search.ts";
export * from "./messages/update-flags.ts";
export * from "./migrate.ts";
export * from "./outbound/queue.ts";
export * from "./pop3/snapshot.ts";
export * from "./quota/quota.ts";
export * from "./store.ts";
export * from "./subscriptions/subscriptions.ts";
