/**
 * Moves a module's tables from central.duckdb (where central kept everything before
 * central/db) into the database, once: on the first start after the upgrade, when the
 * module's first table is still empty in the database and present in DuckDB. All tables in one
 * transaction; the DuckDB tables stay as they were (a backup nobody writes any more).
 */
import type { Db } from "../db.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database, SqlValue } from "./sql.ts";
import { checkIdentifier } from "./sql.ts";

export interface MovedTable {
  table: string;
  /** The database's columns, in the order `row` returns their values. */
  columns: string[];
  /** A DuckDB row (as Db.all gives it: BIGINT as text) → the values for `columns`. */
  row: (r: Record<string, unknown>) => SqlValue[];
}

/** Returns the rows moved per table; {} when there was nothing to move. */
export async function moveFromDuckdb(duck: Db, db: Database, tables: readonly MovedTable[], log: Logger): Promise<Record<string, number>> {
  const have = new Set((await duck.all<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'main'`)).map((r) => r.t));
  const table = checkIdentifier(tables[0]!.table);
  if (!have.has(table)) return {};
  return db.transaction(async (tx) => {
    if ((await tx.query(`SELECT 1 FROM ${table} LIMIT 1`)).length) return {};
    const moved: Record<string, number> = {};
    for (const t of tables) {
      const table = checkIdentifier(t.table);
      if (!have.has(table)) continue;
      const rows = await duck.all<Record<string, unknown>>(`SELECT * FROM ${table}`);
      moved[table] = await tx.copyRows(table, t.columns, rows.map(t.row));
    }
    if (Object.values(moved).some((n) => n > 0)) log.info("moved tables from central.duckdb into the database", moved);
    return moved;
  });
}

/**
 * A table whose columns keep their names and whose DuckDB values go over as text (PostgreSQL
 * parses a bound text parameter into the column's type: bigint, boolean, …); NULL stays NULL.
 */
export function textColumns(table: string, columns: string[]): MovedTable {
  return { table, columns, row: (r) => columns.map((c) => (r[c] === null || r[c] === undefined ? null : String(r[c]))) };
}
