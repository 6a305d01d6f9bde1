export { decodeEvent, encodeEvent, toMailboxEvent } from "./codec.ts";
export { type CreateEventBusOptions, createEventBus } from "./factory.ts";
export { MemoryEventBus, type MemoryEventBusOptions } from "./memory.ts";
export { NatsEventBus, type NatsEventBusOptions } from "./nats.ts";
export type { EventBusStats, MeteredEventBus } from "./stats.ts";
export { accountSubject } from "./subjects.ts";
export * from "./types.ts";
