/**
 * Byte counters shared by every central node (tr_usage_daily, tr_live_usage): each flush ADDS
 * its counts to the stored ones in one statement — `INSERT … ON CONFLICT DO UPDATE SET bytes =
 * bytes + EXCLUDED.bytes` — so two nodes counting the same site (a partition moved, live on one
 * node, uploads on another) add up and never overwrite each other. Bound parameters only; the
 * table and key columns are code constants checked as identifiers.
 */
import { checkIdentifier } from "../db/sql.ts";
import type { Sql, SqlValue } from "../db/index.ts";

/** rows: [...key values, bytes] for the columns `keys` (the table's primary key), unique within one call (a Map's entries are). */
export async function addBytes(db: Pick<Sql, "run">, table: string, keys: readonly string[], rows: readonly (readonly [...string[], number])[]): Promise<void> {
  if (!rows.length) return;
  checkIdentifier(table);
  const cols = [...keys.map(checkIdentifier), "bytes"].join(", ");
  const params: SqlValue[] = [];
  const tuples = rows.map((r) => `(${r.map((v) => `$${params.push(v)}`).join(", ")})`);
  // The conflict target is the table's primary key (PostgreSQL names it <table>_pkey): the keys.
  await db.run(`INSERT INTO ${table} (${cols}) VALUES ${tuples.join(", ")} ON CONFLICT ON CONSTRAINT ${table}_pkey DO UPDATE SET bytes = ${table}.bytes + EXCLUDED.bytes`, params);
}
