export * from "./idle.ts";
export * from "./lines.ts";
export * from "./listener.ts";
export * from "./tls.ts";
