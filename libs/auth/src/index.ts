export * from "./authenticator.ts";
export * from "./connection-limiter.ts";
export * from "./password-schemes.ts";
export * from "./sasl.ts";
