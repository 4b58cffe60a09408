/**
 * central/db/: central's shared state in PostgreSQL (docs/design/central-cluster.md). Owns the
 * database interface (sql.ts), its two drivers — embedded PGlite under DATA/pg, the
 * single-node default (embedded.ts; or in a child process of its own, pglite-process.ts, reached
 * through the server driver), and a PostgreSQL server through Bun.SQL (server.ts) —
 * and the migrations (migrate.ts, migrations/*.sql), applied at every start. Modules get a
 * Database and keep their own queries; the schema is the migrations'.
 */
import path from "node:path";
import type { Logger } from "../../lib/log/index.ts";
import { openEmbedded } from "./embedded.ts";
import { migrateUp } from "./migrate.ts";
import { openEmbeddedProcess } from "./pglite-process.ts";
import { openServer } from "./server.ts";
import type { Database } from "./sql.ts";

export type { Database, Sql, SqlValue, Row } from "./sql.ts";
export { sqlState } from "./sql.ts";
export { tableFingerprint } from "./fingerprint.ts";
export { migrateUp, migrateDown, appliedVersions, loadMigrations } from "./migrate.ts";
export { openEmbedded } from "./embedded.ts";
export { openServer } from "./server.ts";
export { openEmbeddedProcess } from "./pglite-process.ts";

/** The database.* keys of central's config (central/config.ts). */
export interface DatabaseConfig {
  /** postgres://… of a PostgreSQL 15+ server; absent = embedded PGlite under DATA/pg. */
  url?: string | undefined;
  /** Without url: PGlite in central's process (inline) or in a child process of its own (process). */
  embedded?: "inline" | "process" | undefined;
}

/** Opens central's database (server when `url` is set, else embedded under dataDir/pg) and migrates it to the latest version. */
export async function openCentralDatabase(config: DatabaseConfig, dataDir: string, log: Logger): Promise<Database> {
  const started = performance.now();
  // The URL may hold a password: the error names the key, not the URL.
  const db = config.url
    ? await openServer(config.url).catch((e: Error) => {
        throw new Error(`database.url: cannot use the PostgreSQL server: ${e.message}`);
      })
    : config.embedded === "process"
      ? await openEmbeddedProcess(path.join(dataDir, "pg"), { onExit: (code) => log.error("the database process exited", { code }) })
      : await openEmbedded(path.join(dataDir, "pg"));
  try {
    const applied = await migrateUp(db);
    log.info("database ready", { driver: db.driver, migrationsApplied: applied.length, ms: Math.round(performance.now() - started) });
    return db;
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}
