/**
 * queue-commit.test.ts again on the embedded database (PGlite, the `npm start`
 * default): the group INSERT's jsonb expansion there too.
 */
import { useDatabase } from "@aerogram/testkit";

useDatabase("embedded");
await import("./queue-commit.test.ts");
