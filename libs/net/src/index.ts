export * from "./idle.ts";
export * from "./lines.ts";
export * from "./listener.ts";
export * from "./proxy-protocol.ts";
export * from "./proxy-socket.ts";
export * from "./tls.ts";
export * from "./trusted-networks.ts";
