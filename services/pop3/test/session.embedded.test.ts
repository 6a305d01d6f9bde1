/**
 * The POP3 conversation suite (session.test.ts) again on the embedded database
 * (PGlite, the `npm start` default), so "same code path" is checked, not assumed.
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./session.test.ts");
