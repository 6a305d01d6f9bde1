/**
 * The ManageSieve suite (managesieve.test.ts: the protocol by hand,
 * sieve-connect, then SMTP delivery and IMAP) again on the embedded database
 * (PGlite, the `npm start` default).
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./managesieve.test.ts");
