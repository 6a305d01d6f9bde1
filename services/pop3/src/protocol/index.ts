export * from "./commands.ts";
export * from "./dot-stuffing.ts";
export * from "./responses.ts";
export * from "./top.ts";
