// @aerogram/imap: the IMAP4rev1/IMAP4rev2 gateway.
//   server.ts           listeners, sessions, the one autologout sweeper and poll tick
//   session.ts          one connection's state machine: reader → parser → handler
//   commands/<name>.ts  one handler per command, dispatched by commands/index.ts
//   selected-mailbox.ts the compact per-session view (UIDs, flags)
//   mailbox-sync.ts     change detection → untagged EXISTS/EXPUNGE/FETCH
//   search/             SEARCH keys, the full-text index's use, SORT/THREAD, OBJECTID
import type { ServiceStarter } from "@aerogram/runtime";
import { ImapServer } from "./server.ts";

export { ImapServer } from "./server.ts";

export const startImap: ServiceStarter = async (runtime) => {
  const server = new ImapServer(runtime);
  const endpoints = await server.listen();
  return {
    name: "imap",
    endpoints,
    connections: () => server.connections,
    drain: (graceMs) => server.drain(graceMs),
  };
};
