export * from "./authenticator.ts";
export * from "./sasl.ts";
