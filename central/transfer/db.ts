/**
 * Central's transfer state in its own DuckDB file (DATA/transfer/transfer.duckdb; one owning
 * process): retrievals (jobs survive restarts), commit log (one row per segment received —
 * the proof that nothing came twice), byte counts per site/month/link and per site/day/link (usage.ts), cross-site evidence
 * locks, segments the edge lost before they reached central, alarms already raised.
 * The media itself is in central's MediaStore: what central holds is read from there.
 */
import { Db } from "../db.ts";
import { UsageLedger } from "./usage.ts";
import { liveBudgetSchema } from "./live-budget.ts";
import { progressiveSchema } from "./progressive.ts";
import { OFFLOAD_SCHEMA } from "./offload.ts";

/** The retrieval states still being worked on (an SQL list: a code constant, never a value). */
export const ACTIVE = `('queued', 'running')`;

export async function openTransferDb(file: string): Promise<Db> {
  const db = await Db.open(file);
  for (const sql of [
    `CREATE TABLE IF NOT EXISTS tr_retrievals (id VARCHAR PRIMARY KEY, site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, from_ms BIGINT, to_ms BIGINT, priority VARCHAR, reason VARCHAR, created_by VARCHAR, created_ms BIGINT, state VARCHAR, done_ms BIGINT, detail VARCHAR)`,
    `CREATE TABLE IF NOT EXISTS tr_commits (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, bytes BIGINT, sha256 VARCHAR, committed_ms BIGINT, cls VARCHAR, link VARCHAR, PRIMARY KEY (site_id, camera_id, stream, start_ms))`,
    ...UsageLedger.schema,
    ...liveBudgetSchema,
    ...progressiveSchema,
    ...OFFLOAD_SCHEMA,
    `CREATE TABLE IF NOT EXISTS tr_edge_usage (site_id VARCHAR PRIMARY KEY, month VARCHAR, by_link VARCHAR, link VARCHAR, updated_ms BIGINT)`,
    `CREATE TABLE IF NOT EXISTS tr_locks (id VARCHAR PRIMARY KEY, site_id VARCHAR, camera_id VARCHAR, from_ms BIGINT, to_ms BIGINT, reason VARCHAR, created_by VARCHAR, created_ms BIGINT, expires_ms BIGINT, ended_ms BIGINT, retrieval_id VARCHAR)`,
    `CREATE TABLE IF NOT EXISTS tr_lost (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, reported_ms BIGINT, PRIMARY KEY (site_id, camera_id, stream, start_ms))`,
    `CREATE TABLE IF NOT EXISTS tr_alarms (key VARCHAR PRIMARY KEY, at_ms BIGINT)`,
  ]) {
    await db.run(sql);
  }
  return db;
}
