/**
 * inline-queue.test.ts again on the embedded database (PGlite, the `npm start`
 * default), so migration 101 (content column, the NULL-aware release trigger)
 * is checked there too.
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./inline-queue.test.ts");
