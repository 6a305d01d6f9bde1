/**
 * dsn-params.test.ts again on the embedded database (PGlite, the `npm start`
 * default), so the migration-060 tables and queries are checked there too.
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./dsn-params.test.ts");
