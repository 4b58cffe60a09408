/**
 * Byte counters shared by every central node (tr_usage_daily, tr_live_usage): each flush ADDS
 * its counts to the stored ones in one statement — `INSERT … ON CONFLICT DO UPDATE SET bytes =
 * bytes + EXCLUDED.bytes` — so two nodes counting the same site (a partition moved, live on one
 * node, uploads on another) add up and never overwrite each other. Bound parameters only; the
 * table and key columns are code constants checked as identifiers.
 */
import { checkIdentifier } from "../db/sql.ts";
import type { Sql, SqlValue } from "../db/index.ts";

/** rows: [...key values, bytes]; keys must be unique within one call (a Map's entries are). */
export async function addBytes(db: Pick<Sql, "run">, table: string, keys: readonly string[], rows: readonly (readonly [...string[], number])[]): Promise<void> {
  if (!rows.length) return;
  const t = checkIdentifier(table);
  const cols = [...keys.map(checkIdentifier), "bytes"];
  const params: SqlValue[] = [];
  const tuples = rows.map((r) => `(${r.map((v) => `$${params.push(v)}`).join(", ")})`);
  await db.run(`INSERT INTO ${t} (${cols.join(", ")}) VALUES ${tuples.join(", ")} ON CONFLICT (${keys.join(", ")}) DO UPDATE SET bytes = ${t}.bytes + EXCLUDED.bytes`, params);
}
