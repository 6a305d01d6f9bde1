export * from "./reader.ts";
export * from "./service.ts";
export * from "./session.ts";
