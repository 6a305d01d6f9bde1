export * from "./app-passwords.ts";
export * from "./authenticator.ts";
export * from "./connection-limiter.ts";
export * from "./oauth.ts";
export * from "./oauth-sasl.ts";
export * from "./password-schemes.ts";
export * from "./sasl.ts";
export * from "./session-revocation.ts";
