/**
 * Sieve at delivery (sieve-delivery.test.ts) again on the embedded database
 * (PGlite, the `npm start` default): vacation memory, redirect budget and
 * the outbound queue on PGlite's one backend.
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./sieve-delivery.test.ts");
