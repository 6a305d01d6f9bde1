export * from "./learn.ts";
export * from "./policy.ts";
export * from "./rspamd.ts";
