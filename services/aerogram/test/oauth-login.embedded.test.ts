/**
 * The OAuth login suite (oauth-login.test.ts) again on the embedded database
 * (PGlite, the `npm start` default).
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./oauth-login.test.ts");
