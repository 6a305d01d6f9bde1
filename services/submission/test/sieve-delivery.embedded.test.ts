/**
 * sieve-delivery.test.ts again on the embedded database (PGlite, the `npm start`
 * default): submission's filtered local delivery and its dedupe there too.
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./sieve-delivery.test.ts");
