/**
 * Central's control-plane tables, in their own DuckDB file (DATA/sites.duckdb; one owning
 * process, like central.duckdb): dedup watermarks, events, per-camera index mirror (segments,
 * gaps, locks, retention horizon), device tree, desired/applied config, health time series,
 * commands, refused messages. Values reach SQL only as bound parameters or through the
 * appender: rows of a batch are appended to a per-connection TEMP staging table and moved with
 * one INSERT … SELECT, inside the batch's transaction.
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
    // The edges' kept tracks in chunks (one row per track message; lat/lon in 1e-7 degrees): the box
    // and time span find candidate chunks, the points are tested exactly (central/fleet).
    `CREATE TABLE IF NOT EXISTS cp_track (site_id VARCHAR, start_ms BIGINT, end_ms BIGINT, min_lat BIGINT, max_lat BIGINT, min_lon BIGINT, max_lon BIGINT, points VARCHAR)`,
    // The newest live position per site (telemetry "position").
    `CREATE TABLE IF NOT EXISTS cp_position (site_id VARCHAR PRIMARY KEY, at_ms BIGINT, received_ms BIGINT, data VARCHAR)`,
    // Messages central could not store, with the reason; their seq is acknowledged (stepped over).
    `CREATE TABLE IF NOT EXISTS cp_rejected (site_id VARCHAR, ob VARCHAR, seq BIGINT, type VARCHAR, reason VARCHAR, received_ms BIGINT, PRIMARY KEY (site_id, ob, seq))`,
  ]) {
    await db.run(sql);
  }
  for (const [table, t] of Object.entries(ROW_TABLES)) await db.run(`CREATE TEMP TABLE IF NOT EXISTS ${t.stage} AS SELECT ${t.columns} FROM ${table} LIMIT 0`);
  return db;
}

/** Tables a batch fills row by row (through staging); `replace` = keyed, a re-sent row replaces. */
export const ROW_TABLES = {
  cp_seq: { columns: "site_id, ob, last_seq", stage: "cp_stage_seq", replace: true },
  cp_events: { columns: "site_id, ob, seq, event_id, camera_id, kind, at_ms, data, received_ms", stage: "cp_stage_events", replace: false },
  cp_segments: { columns: "site_id, camera_id, stream, start_ms, end_ms, bytes", stage: "cp_stage_segments", replace: true },
  cp_gaps: { columns: "site_id, camera_id, stream, start_ms, end_ms, reason", stage: "cp_stage_gaps", replace: true },
  cp_health: { columns: "site_id, at_ms, received_ms, body", stage: "cp_stage_health", replace: false },
  cp_telemetry: { columns: "site_id, ob, seq, kind, camera_id, at_ms, data", stage: "cp_stage_telemetry", replace: false },
  cp_track: { columns: "site_id, start_ms, end_ms, min_lat, max_lat, min_lon, max_lon, points", stage: "cp_stage_track", replace: false },
  cp_rejected: { columns: "site_id, ob, seq, type, reason, received_ms", stage: "cp_stage_rejected", replace: true },
} as const;
export type RowTable = keyof typeof ROW_TABLES;
