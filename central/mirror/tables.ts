/**
 * What of the mirror stays in DuckDB (DATA/sites.duckdb, one owning process): the edges' kept
 * tracks (cp_track) and the newest live position per site (cp_position) — with central/fleet's
 * own fleet_* tables, analytics that stay in DuckDB for now (docs/design/central-cluster.md).
 * Everything else of the mirror is in central's database (central/db migration 0005, rows.ts).
 * Track rows of a batch are appended to a per-connection TEMP staging table and moved with one
 * INSERT … SELECT, inside the batch's transaction.
 *
 * Before central/db the whole mirror lived here: MIRROR_TABLES_IN_DUCKDB moves those tables into
 * the database once, at the first start after the upgrade (central/db/from-duckdb.ts).
 */
import { Db } from "../db.ts";
import { textColumns, type MovedTable } from "../db/from-duckdb.ts";
import { MIRROR_ROWS } from "./rows.ts";

export async function openFleetTables(file: string): Promise<Db> {
  const db = await Db.open(file);
  for (const sql of [
    // The edges' kept tracks in chunks (one row per track message; lat/lon in 1e-7 degrees): the box
    // and time span find candidate chunks, the points are tested exactly (central/fleet).
    `CREATE TABLE IF NOT EXISTS cp_track (site_id VARCHAR, start_ms BIGINT, end_ms BIGINT, min_lat BIGINT, max_lat BIGINT, min_lon BIGINT, max_lon BIGINT, points VARCHAR)`,
    // The newest live position per site (telemetry "position").
    `CREATE TABLE IF NOT EXISTS cp_position (site_id VARCHAR PRIMARY KEY, at_ms BIGINT, received_ms BIGINT, data VARCHAR)`,
  ]) {
    await db.run(sql);
  }
  for (const [table, t] of Object.entries(FLEET_ROW_TABLES)) await db.run(`CREATE TEMP TABLE IF NOT EXISTS ${t.stage} AS SELECT ${t.columns} FROM ${table} LIMIT 0`);
  return db;
}

/** The DuckDB tables a batch fills row by row (through staging; appended). */
export const FLEET_ROW_TABLES = {
  cp_track: { columns: "site_id, start_ms, end_ms, min_lat, max_lat, min_lon, max_lon, points", stage: "cp_stage_track" },
} as const;

const columnsOf = (t: keyof typeof MIRROR_ROWS) => MIRROR_ROWS[t].columns.map(([c]) => c as string);

/** The mirror's tables as sites.duckdb held them before central/db (cp_seq first: the move happens when it is still empty in the database). */
export const MIRROR_TABLES_IN_DUCKDB: MovedTable[] = [
  ...(["cp_seq", "cp_segments", "cp_gaps", "cp_locks", "cp_retention", "cp_cameras", "cp_applied", "cp_health", "cp_telemetry", "cp_rejected"] as const).map((t) => textColumns(t, columnsOf(t))),
  textColumns("cp_events", ["n", ...columnsOf("cp_events")]),
  textColumns("cp_desired", ["site_id", "version", "config", "created_ms", "created_by"]),
  textColumns("cp_commands", ["id", "site_id", "name", "args", "created_ms", "expires_ms", "created_by", "status", "result", "error", "done_ms"]),
];
