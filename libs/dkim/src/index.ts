export * from "./key-encryption.ts";
export * from "./key-pair.ts";
export * from "./manage.ts";
export * from "./secret.ts";
export * from "./signer.ts";
