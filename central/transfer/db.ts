/**
 * Where central's transfer state lives. The tables are migration 0006 of central/db
 * (PostgreSQL: embedded PGlite on a single node, a server in a cluster), shared by every node:
 * retrievals (jobs survive restarts and node failures), the commit log (one row per segment
 * received — its key decides, across nodes, that nothing is committed twice), byte counts per
 * site/day/link (usage.ts), cross-site evidence locks, segments the edge lost before they
 * reached central, alarms already raised, live usage, depot offloads.
 *
 * DATA/transfer/transfer.duckdb is still opened: custody (central/custody, cu_*) keeps its
 * tables there until it moves, and an upgraded installation's tr_* tables are copied from it
 * into the database once (moveTransferFromDuckdb). The media itself is in central's MediaStore.
 */
import { Db } from "../db.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database, SqlValue } from "../db/index.ts";
import { moveFromDuckdb, type MovedTable } from "../db/from-duckdb.ts";

/** The retrieval states still being worked on (an SQL list: a code constant, never a value). */
export const ACTIVE = `('queued', 'running')`;

/** The DuckDB file beside the transfer state: custody's tables, and the tr_* tables of versions before 0006. */
export function openTransferDb(file: string): Promise<Db> {
  return Db.open(file);
}

/** DuckDB's JSON rows give BIGINT as text: a number (or null) for the database. */
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function table(name: string, cols: Record<string, "t" | "n">): MovedTable {
  const columns = Object.keys(cols);
  return { table: name, columns, row: (r) => columns.map((c): SqlValue => (cols[c] === "n" ? num(r[c]) : text(r[c]))) };
}

/** The marker goes first: moveFromDuckdb copies only while the first table is empty in the database. */
const MARKER = "tr_moved_from_duckdb";

export const TRANSFER_TABLES_IN_DUCKDB: MovedTable[] = [
  table(MARKER, { moved_ms: "n" }),
  table("tr_retrievals", { id: "t", site_id: "t", camera_id: "t", stream: "t", from_ms: "n", to_ms: "n", priority: "t", reason: "t", created_by: "t", created_ms: "n", state: "t", done_ms: "n", detail: "t" }),
  table("tr_commits", { site_id: "t", camera_id: "t", stream: "t", start_ms: "n", bytes: "n", sha256: "t", committed_ms: "n", cls: "t", link: "t" }),
  table("tr_usage", { site_id: "t", month: "t", link: "t", bytes: "n" }),
  table("tr_usage_daily", { site_id: "t", day: "t", link: "t", bytes: "n" }),
  table("tr_edge_usage", { site_id: "t", month: "t", by_link: "t", link: "t", updated_ms: "n" }),
  table("tr_live_usage", { site_id: "t", month: "t", link: "t", bytes: "n" }),
  table("tr_live_override", { site_id: "t", until_ms: "n", created_by: "t", created_ms: "n", reason: "t" }),
  table("tr_locks", { id: "t", site_id: "t", camera_id: "t", from_ms: "n", to_ms: "n", reason: "t", created_by: "t", created_ms: "n", expires_ms: "n", ended_ms: "n", retrieval_id: "t" }),
  table("tr_lost", { site_id: "t", camera_id: "t", stream: "t", start_ms: "n", reported_ms: "n" }),
  table("tr_offload", { site_id: "t", started_ms: "n", done_ms: "n", bytes: "n" }),
  table("tr_retrieval_quality", { id: "t", quality: "t" }),
  table("tr_alarms", { key: "t", at_ms: "n" }),
];

/**
 * An upgraded installation: copies the tr_* tables of transfer.duckdb into the database once
 * (all in one transaction). Any of them may be empty (a fleet without retrievals has commits
 * only), so the DuckDB file gets a one-row marker table first, and the marker's row in the
 * database is what says "moved": a restart copies nothing again.
 */
export async function moveTransferFromDuckdb(duck: Db, db: Database, now: number, log: Logger): Promise<Record<string, number>> {
  const have = new Set((await duck.all<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'main'`)).map((r) => r.t));
  if (!have.has("tr_retrievals") && !have.has("tr_commits")) return {};
  if (!have.has(MARKER)) {
    await duck.run(`CREATE TABLE tr_moved_from_duckdb (moved_ms BIGINT)`);
    await duck.run(`INSERT INTO tr_moved_from_duckdb VALUES ($1)`, [now]);
  }
  return moveFromDuckdb(duck, db, TRANSFER_TABLES_IN_DUCKDB, log);
}
