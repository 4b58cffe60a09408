/**
 * Moves a module's tables from central.duckdb (where central kept everything before
 * central/db) into the database, once: on the first start after the upgrade, when the
 * module's first table is still empty in the database and present in DuckDB. All tables in one
 * transaction; the DuckDB tables stay as they were (a backup nobody writes any more).
 */
import type { Db } from "../db.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database, Sql, SqlValue } from "./sql.ts";
import { checkIdentifier } from "./sql.ts";

export interface MovedTable {
  table: string;
  /** The database's columns, in the order `row` returns their values. */
  columns: string[];
  /** A DuckDB row (as Db.all gives it: BIGINT as text) → the values for `columns`. */
  row: (r: Record<string, unknown>) => SqlValue[];
  /** An identity column copied with its values: its sequence moves past them (syncIdentity). */
  identity?: string;
  /** A column unique in the database but not in DuckDB: only the first row of each value is copied. */
  uniqueBy?: string;
}

/**
 * Moves the identity sequence of table.column past the largest value in the table, when rows
 * were inserted with explicit values (a copy); never moves it back.
 */
export async function syncIdentity(db: Pick<Sql, "query">, tableName: string, column: string): Promise<void> {
  const table = checkIdentifier(tableName);
  const col = checkIdentifier(column);
  await db.query(
    `SELECT setval(s, m) FROM (SELECT pg_get_serial_sequence($1, $2) AS s, (SELECT max(${col}) FROM ${table}) AS m) x WHERE m > coalesce(pg_sequence_last_value(s::regclass), 0)`,
    [table, col],
  );
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
      let rows = await duck.all<Record<string, unknown>>(`SELECT * FROM ${table}`);
      if (t.uniqueBy) {
        const seen = new Set<unknown>();
        const key = t.uniqueBy;
        rows = rows.filter((r) => !seen.has(r[key]) && !!seen.add(r[key]));
      }
      moved[table] = await tx.copyRows(table, t.columns, rows.map(t.row));
      if (t.identity) await syncIdentity(tx, table, t.identity);
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
