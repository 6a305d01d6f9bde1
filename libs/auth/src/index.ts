export * from "./authenticator.ts";
export * from "./connection-limiter.ts";
export * from "./sasl.ts";
