export * from "./deliver.ts";
export * from "./index-columns.ts";
