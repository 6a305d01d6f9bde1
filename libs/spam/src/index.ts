export * from "./policy.ts";
export * from "./rspamd.ts";
