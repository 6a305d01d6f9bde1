export * from "./date.ts";
export * from "./interpreter.ts";
export * from "./message.ts";
export * from "./parser.ts";
export * from "./validate.ts";
