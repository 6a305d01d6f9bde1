export * from "./admin-api.ts";
export * from "./admin-jobs.ts";
export * from "./admin-ops.ts";
export * from "./http-admin.ts";
export * from "./lifecycle-commands.ts";
export * from "./mailctl-commands.ts";
export * from "./store-admin.ts";
