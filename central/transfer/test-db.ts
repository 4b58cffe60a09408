/**
 * Test support: the transfer state's tests run on both drivers of central/db — embedded PGlite
 * and a real PostgreSQL 15 server (a throwaway cluster, central/db/testkit.ts) — migrated to the
 * latest version. "Two nodes" are two Database handles on one server database; on PGlite (one
 * process, one connection) both share the handle.
 */
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { migrateUp, openServer, type Database } from "../db/index.ts";
import { postgresUnavailable, startPostgres, testEmbedded, type TestPostgres } from "../db/testkit.ts";

export interface TestDrivers {
  drivers: { name: string; skip: boolean; open: () => Promise<{ a: Database; b: Database; close: () => Promise<void> }> }[];
  stop(): Promise<void>;
}

export function transferTestDrivers(): TestDrivers {
  const noServer = postgresUnavailable();
  if (noServer) console.warn(`central/transfer: server driver tests skipped: ${noServer}`);
  let pg: Promise<TestPostgres> | null = null;
  let tmp: Promise<string> | null = null;
  let n = 0;
  return {
    drivers: [
      {
        name: "embedded (PGlite)",
        skip: false,
        open: async () => {
          tmp ??= fs.mkdtemp(path.join(tmpdir(), "outpost-transferdb-"));
          const db = await testEmbedded(path.join(await tmp, `e${++n}`));
          await migrateUp(db);
          return { a: db, b: db, close: () => db.close() };
        },
      },
      {
        name: "server (PostgreSQL 15)",
        skip: !!noServer,
        open: async () => {
          pg ??= startPostgres();
          const url = await (await pg).createDatabase();
          const a = await openServer(url);
          await migrateUp(a);
          const b = await openServer(url);
          return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
        },
      },
    ],
    async stop() {
      await (await pg)?.stop();
      if (tmp) await fs.rm(await tmp, { recursive: true, force: true });
    },
  };
}
