export * from "./admin-api.ts";
export * from "./admin-ops.ts";
export * from "./http-admin.ts";
export * from "./identity-api.ts";
export * from "./identity-ops.ts";
export * from "./mailctl-commands.ts";
export * from "./mailctl-identity.ts";
export * from "./store-admin.ts";
