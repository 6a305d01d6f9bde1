/**
 * The ACL rules suite (acl-rules.test.ts) again on the embedded database
 * (PGlite, the `npm start` default).
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./acl-rules.test.ts");
