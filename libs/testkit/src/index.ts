/**
 * The one test harness (tests, benches, comparison runs):
 *   servers.ts   where the shared PostgreSQL, NATS and Redis are; skip-or-fail when one is down
 *   backend.ts   startTestBackend: database (real or embedded), blobs, bus, limiter, env block
 *   postgres.ts  a database per test file;  s3.ts  an s3rver per test file
 *   dovecot.ts, postfix.ts  private reference servers for benches (own config dir and ports)
 *   bench.ts     bench knobs and the smoke mode every bench has;  proc-cpu.ts  CPU time of processes from /proc
 *   dovecot-preauth.ts  a pre-authenticated Dovecot imap process for answer comparisons
 *   process.ts   Aerogram's entry points as child processes;  text-client.ts  a raw socket client
 */
export * from "./backend.ts";
export * from "./bench.ts";
export * from "./dovecot.ts";
export * from "./dovecot-preauth.ts";
export * from "./oidc-issuer.ts";
export * from "./postfix.ts";
export * from "./postgres.ts";
export * from "./proc-cpu.ts";
export * from "./process.ts";
export * from "./rspamd.ts";
export * from "./s3.ts";
export * from "./servers.ts";
export * from "./smtp-sink.ts";
export * from "./temp.ts";
export * from "./text-client.ts";
export * from "./tls.ts";
