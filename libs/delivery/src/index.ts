export * from "./blob-reclaimer.ts";
export * from "./deliver.ts";
export * from "./gc.ts";
export * from "./group-commit.ts";
export * from "./index-columns.ts";
export * from "./lifecycle-metrics.ts";
export * from "./lifecycle-service.ts";
export * from "./retention.ts";
