/**
 * Stands in for central in pglite-process.test.ts: opens the embedded database in its own
 * process on argv[2] (PGLITE_TEMPLATE_DIR from the test), writes one row, prints the child's
 * pid and waits to be killed.
 */
import { openEmbeddedProcess } from "../pglite-process.ts";

const db = await openEmbeddedProcess(process.argv[2]!);
await db.exec(`CREATE TABLE kept (id int PRIMARY KEY, note text)`);
await db.run(`INSERT INTO kept VALUES ($1, $2)`, [1, "written before kill -9"]);
console.log(JSON.stringify({ pid: db.pid }));
setInterval(() => undefined, 60_000);
