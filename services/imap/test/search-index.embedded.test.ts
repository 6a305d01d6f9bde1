/**
 * The search/sort/thread/OBJECTID/COMPRESS suite (search-index.test.ts) on the
 * embedded database (PGlite with pg_trgm), the `npm start` default.
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./search-index.test.ts");
