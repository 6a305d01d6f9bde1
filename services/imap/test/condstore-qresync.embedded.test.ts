/**
 * RFC 7162's CONDSTORE/QRESYNC scenarios (condstore-qresync.test.ts) again on
 * the embedded database (PGlite): MODSEQ allocation and the expunge log are
 * the SQL most sensitive to a backend that answers differently.
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./condstore-qresync.test.ts");
