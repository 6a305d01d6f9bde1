export * from "./deliver.ts";
export * from "./filters.ts";
export * from "./gc.ts";
export * from "./group-commit.ts";
export * from "./index-columns.ts";
export * from "./sieve-filter.ts";
export * from "./search-backfill.ts";
export * from "./search-index.ts";
