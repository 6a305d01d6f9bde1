/**
 * The recipient-resolution suite (smtp-recipients.test.ts) again on the
 * embedded database (PGlite, the `npm start` default).
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./smtp-recipients.test.ts");
