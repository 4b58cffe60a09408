/**
 * Central's control-plane tables, in their own DuckDB file (DATA/sites.duckdb; one owning
 * process, like central.duckdb): dedup watermarks, events, per-camera index mirror (segments,
 * gaps, locks, retention horizon), device tree, desired/applied config, health time series,
 * commands. Mirror rows are written as SQL literals built only from schema-validated numbers
 * and ids (free text goes through parameters).
 */
import { Db } from "../db.ts";

export async function openMirror(file: string): Promise<Db> {
  const db = await Db.open(file);
  for (const sql of [
    `CREATE TABLE IF NOT EXISTS cp_seq (site_id VARCHAR, ob VARCHAR, last_seq BIGINT, PRIMARY KEY (site_id, ob))`,
    `CREATE SEQUENCE IF NOT EXISTS cp_event_n`,
    `CREATE TABLE IF NOT EXISTS cp_events (n BIGINT DEFAULT nextval('cp_event_n'), site_id VARCHAR, ob VARCHAR, seq BIGINT, event_id VARCHAR, camera_id VARCHAR, kind VARCHAR, at_ms BIGINT, data VARCHAR, received_ms BIGINT)`,
    `CREATE TABLE IF NOT EXISTS cp_segments (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, end_ms BIGINT, bytes BIGINT, PRIMARY KEY (site_id, camera_id, stream, start_ms))`,
    `CREATE TABLE IF NOT EXISTS cp_gaps (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, end_ms BIGINT, reason VARCHAR, PRIMARY KEY (site_id, camera_id, stream, start_ms))`,
    `CREATE TABLE IF NOT EXISTS cp_locks (site_id VARCHAR, camera_id VARCHAR, lock_id VARCHAR, start_ms BIGINT, end_ms BIGINT, reason VARCHAR, expires_ms BIGINT, PRIMARY KEY (site_id, lock_id))`,
    `CREATE TABLE IF NOT EXISTS cp_retention (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, horizon_ms BIGINT, updated_ms BIGINT, PRIMARY KEY (site_id, camera_id, stream))`,
    `CREATE TABLE IF NOT EXISTS cp_cameras (site_id VARCHAR, camera_id VARCHAR, name VARCHAR, enabled BOOLEAN, streams VARCHAR, updated_ms BIGINT, PRIMARY KEY (site_id, camera_id))`,
    `CREATE TABLE IF NOT EXISTS cp_telemetry (site_id VARCHAR, ob VARCHAR, seq BIGINT, kind VARCHAR, camera_id VARCHAR, at_ms BIGINT, data VARCHAR)`,
    `CREATE TABLE IF NOT EXISTS cp_health (site_id VARCHAR, at_ms BIGINT, received_ms BIGINT, body VARCHAR)`,
    `CREATE TABLE IF NOT EXISTS cp_desired (site_id VARCHAR, version BIGINT, config VARCHAR, created_ms BIGINT, created_by VARCHAR, PRIMARY KEY (site_id, version))`,
    `CREATE TABLE IF NOT EXISTS cp_applied (site_id VARCHAR PRIMARY KEY, version BIGINT, state VARCHAR, reason VARCHAR, at_ms BIGINT)`,
    `CREATE TABLE IF NOT EXISTS cp_commands (id VARCHAR PRIMARY KEY, site_id VARCHAR, name VARCHAR, args VARCHAR, created_ms BIGINT, expires_ms BIGINT, created_by VARCHAR, status VARCHAR, result VARCHAR, error VARCHAR, done_ms BIGINT)`,
  ]) {
    await db.run(sql);
  }
  return db;
}

export function lit(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error("non-finite number in SQL literal");
    return String(Math.trunc(v));
  }
  if (typeof v === "boolean") return v ? "TRUE" : "FALSE";
  return `'${v.replace(/'/g, "''")}'`;
}

export function rowsSql(rows: (string | number | boolean | null | undefined)[][]): string {
  return rows.map((r) => `(${r.map(lit).join(",")})`).join(",");
}
