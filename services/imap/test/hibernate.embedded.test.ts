/**
 * The hibernation suite (hibernate.test.ts) again on the embedded database
 * (PGlite, the `npm start` default).
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./hibernate.test.ts");
