export * from "./accounts.ts";
export * from "./db.ts";
export * from "./flags.ts";
export * from "./mailboxes.ts";
export * from "./messages.ts";
export * from "./migrate.ts";
export * from "./password.ts";
export * from "./store.ts";
